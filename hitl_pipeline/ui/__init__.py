"""The reviewer's form: view model (:mod:`.view`), Gradio app (:mod:`.app`), accounts (:mod:`.auth`),
server with CSP (:mod:`.server`) and keyboard shortcuts (:mod:`.shortcuts`).

Importing this package turns Gradio's telemetry and version checks off *before* gradio is imported
anywhere below it: with them on and a network that drops packets, the process never exits.

It also stops Gradio's queue from recomputing its monitoring summary (a pandas DataFrame and
``np.percentile`` over every recorded event) in a worker thread after *each* event: the dashboard
it feeds is off (``enable_monitoring=False``), and that numpy C++ code, still running in a daemon
worker thread when the interpreter finalized, aborted ``hitl run`` at exit ("terminate called
without an active exception"; see :meth:`hitl_pipeline.ui.server.ServerHandle.close`).
"""

import os

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ["GRADIO_ANALYTICS_CACHE_FREQUENCY"] = str(2**62)
