// Placeholder so the library exists before its sources land; delete when a real .cc exists.
