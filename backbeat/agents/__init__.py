"""Model providers behind one interface, the tool loop, and the tools the model may use."""
