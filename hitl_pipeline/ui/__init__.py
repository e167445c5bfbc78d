"""The reviewer's form: view model (:mod:`.view`), Gradio app (:mod:`.app`), accounts (:mod:`.auth`),
server with CSP (:mod:`.server`) and keyboard shortcuts (:mod:`.shortcuts`).

Importing this package turns Gradio's telemetry and version checks off *before* gradio is imported
anywhere below it: with them on and a network that drops packets, the process never exits.
"""

import os

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
