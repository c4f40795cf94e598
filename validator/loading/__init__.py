"""Loading a model file safely: structural limits before any C++ parsing, external data confined
to the model's folder, every tensor found by a schema walk, and a one-line reason for whatever
cannot be loaded."""
