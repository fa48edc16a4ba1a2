from bayes_scaling.examples import write_example

print(f"wrote {write_example()}")
