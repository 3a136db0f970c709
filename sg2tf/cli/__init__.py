"""sg2tf's command-line programs, one module per console script (`main(argv) -> exit status`).

generate (sg2tf-generate), train (sg2tf-train), dataset_tool (sg2tf-dataset-tool), export_savedmodel
(sg2tf-export-savedmodel), convert (sg2tf-convert); `_common` holds what they share, and `stock_ops.py` is a
script the SavedModel export runs by path in a fresh interpreter.
"""
