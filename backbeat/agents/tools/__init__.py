"""The tools a model may call during a run. `registry.TOOLS` is the one list of them."""
