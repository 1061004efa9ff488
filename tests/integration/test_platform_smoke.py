"""The platform works here: daprd (started by the dapr CLI), placement, scheduler and the SQLite
actor state store run a two-activity workflow to completion."""

from __future__ import annotations

import sys
from pathlib import Path

import dapr.ext.workflow as wf

from tests.integration.harness import dapr_run

APP = Path(__file__).parent / "apps" / "smoke_workflow.py"

ACTOR_STORE = """\
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: smokestore
spec:
  type: state.sqlite
  version: v1
  metadata:
  - name: connectionString
    value: "{path}"
  - name: actorStateStore
    value: "true"
"""

CONFIG = """\
apiVersion: dapr.io/v1alpha1
kind: Configuration
metadata:
  name: smoke
spec:
  tracing:
    samplingRate: "1"
    zipkin:
      endpointAddress: http://127.0.0.1:9411/api/v2/spans
"""


def test_two_activity_workflow_completes_on_the_real_runtime(tmp_path: Path) -> None:
    resources = tmp_path / "resources"
    resources.mkdir()
    (resources / "store.yaml").write_text(ACTOR_STORE.format(path=tmp_path / "actors.db"))
    (tmp_path / "config.yaml").write_text(CONFIG)

    with dapr_run(
        "smoke",
        resources_path=resources,
        config_path=tmp_path / "config.yaml",
        log_dir=tmp_path,
        app_command=[sys.executable, str(APP)],
    ) as sidecar:
        client = wf.DaprWorkflowClient(host="127.0.0.1", port=str(sidecar.grpc_port))
        instance_id = client.schedule_new_workflow(workflow="smoke_workflow", input=21)
        state = client.wait_for_workflow_completion(instance_id, timeout_in_seconds=60)

        assert state is not None, sidecar.log()
        assert state.runtime_status == wf.WorkflowStatus.COMPLETED, sidecar.log()
        assert state.serialized_output == f'"doubled to 42 by {instance_id}"'
