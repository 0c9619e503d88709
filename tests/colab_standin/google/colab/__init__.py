"""A stand-in for Colab's ``google.colab`` (Colab cannot be reached from the test machines).

It behaves as ../shared/notes/colab.md describes the real one: importable in the kernel, the
browser's copy of the notebook from ``_message.blocking_request("get_ipynb")``, and
``files.download(path)`` sending a file to the browser. The test names the notebook the
"browser" holds in ``COLAB_STANDIN_NOTEBOOK``; downloads are listed in ``COLAB_STANDIN_DOWNLOADS``.
"""
