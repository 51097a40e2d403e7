"""The Helm chart (deploy/helm/voxmoji), rendered by Helm's own engine (tests/helm_chart.py): every object it
makes validates against the Kubernetes schemas (and KEDA's), `helm lint --strict` is clean, install stops on a
missing secret, and what keeps a paid job whole holds: workers get more than the jobs' hard time limit to
finish after SIGTERM, beat is one, the web tier is probed on /healthz and /readyz."""
import copy
import subprocess

import helm_chart
import pytest
from helm_chart import (
    FULL_VALUES,
    KUBE_VERSIONS,
    REPO,
    REQUIRED_VALUES,
    kind,
    merged,
    named,
    pod_spec,
    render,
    rendered,
    schema_errors,
)


@pytest.mark.parametrize("variant", sorted(helm_chart.VARIANTS))
def test_every_object_validates_against_its_schema(variant):
    objects = rendered(variant)
    assert objects
    problems = [f"{obj['kind']}/{obj['metadata']['name']} (Kubernetes {version}): {error}"
                for obj in objects for version in KUBE_VERSIONS for error in schema_errors(obj, version)]
    assert not problems, "\n".join(problems)


def test_the_validators_reject_what_a_cluster_would():
    """A misspelt field is an error in a Deployment and in the ScaledObject (neither validator is vacuous)."""
    objects = rendered("full")
    deployment = copy.deepcopy(named(objects, "Deployment", "voxmoji-web"))
    pod_spec(deployment)["containers"][0]["livenesProbe"] = {"httpGet": {"path": "/healthz", "port": "http"}}
    assert any("livenesProbe" in error for error in schema_errors(deployment, KUBE_VERSIONS[-1]))
    scaled = copy.deepcopy(kind(objects, "ScaledObject")[0])
    scaled["spec"]["minReplicas"] = 0
    assert any("minReplicas" in error for error in schema_errors(scaled, KUBE_VERSIONS[-1]))
    scaled = copy.deepcopy(kind(objects, "ScaledObject")[0])
    scaled["spec"]["maxReplicaCount"] = "eight"
    assert schema_errors(scaled, KUBE_VERSIONS[-1])
    del scaled["spec"]["scaleTargetRef"]
    assert any("scaleTargetRef" in error for error in schema_errors(scaled, KUBE_VERSIONS[-1]))


def test_helm_lint_is_clean():
    for values in (REQUIRED_VALUES, FULL_VALUES, helm_chart.LOCAL_VALUES):
        report = helm_chart.lint(values)
        assert not report["errors"], report
        assert [message for message in report["messages"] if message["severity"] >= 2] == [], report


def render_error(values):
    import helm_python

    with pytest.raises(helm_python.HelmError) as raised:
        render(values)
    return str(raised.value)


@pytest.mark.parametrize("missing", ["secrets.VOXMOJI_SECRET_KEY", "secrets.VOXMOJI_MEDIA_SECRET",
                                     "secrets.DATABASE_URL", "secrets.REDIS_URL", "config.PUBLIC_BASE_URL",
                                     "config.S3_BUCKET"])
def test_install_stops_naming_a_missing_value(missing):
    assert missing in render_error(merged(REQUIRED_VALUES, **{missing: None}))


def test_the_defaults_hold_no_usable_secret():
    from backend.config import MIN_SECRET_BYTES

    assert "is required" in render_error({})
    for name in ("VOXMOJI_SECRET_KEY", "VOXMOJI_MEDIA_SECRET"):  # as short as config.py refuses, no shorter
        short = render_error(merged(REQUIRED_VALUES, **{f"secrets.{name}": "x" * (MIN_SECRET_BYTES - 1)}))
        assert f"secrets.{name} has {MIN_SECRET_BYTES - 1} bytes" in short
        assert render(merged(REQUIRED_VALUES, **{f"secrets.{name}": "x" * MIN_SECRET_BYTES}))
    values = helm_chart.CHART.joinpath("values.yaml").read_text()
    assert "dev-only" not in values


def test_misspelt_values_are_refused():
    """values.schema.json: a value the chart does not know, or of the wrong type, stops the install."""
    assert "'enable' not allowed" in render_error(merged(FULL_VALUES, **{"workers.pools.gpu.enable": True}))
    assert "want integer" in render_error(merged(REQUIRED_VALUES, **{"web.replicas": "two"}))
    assert "does not match pattern" in render_error(merged(REQUIRED_VALUES, **{"config.public_base_url": "x"}))


def test_local_media_needs_a_shared_volume():
    values = merged(helm_chart.LOCAL_VALUES, **{"media.localClaim": ""})
    assert "media.localClaim" in render_error(values)
    objects = rendered("local")
    for deployment in kind(objects, "Deployment"):
        if deployment["metadata"]["name"] != "voxmoji-beat":
            claims = [volume["persistentVolumeClaim"]["claimName"] for volume in pod_spec(deployment)["volumes"]
                      if "persistentVolumeClaim" in volume]
            assert claims == ["voxmoji-media"], deployment["metadata"]["name"]


def workers(objects):
    return [obj for obj in kind(objects, "Deployment") if "-worker-" in obj["metadata"]["name"]]


def test_workers_finish_the_job_in_hand_on_sigterm():
    """A rollout, a scale-down or a drain sends SIGTERM: Celery's warm shutdown takes no new job and finishes
    the running ones (each ends within the hard time limit); acks_late hands back what was reserved and not
    started. Kubernetes waits terminationGracePeriodSeconds before SIGKILL: it must exceed the hard limit."""
    from backend import create_app
    from backend.config import load_config

    objects = rendered("full")
    config = named(objects, "ConfigMap", "voxmoji-config")["data"]
    hard = int(config["VOXMOJI_JOB_HARD_TIME_LIMIT"])
    assert hard == load_config({})["JOB_HARD_TIME_LIMIT"]  # the chart's default is config.py's
    pools = workers(objects)
    assert {obj["metadata"]["name"] for obj in pools} == {"voxmoji-worker-cpu", "voxmoji-worker-gpu"}
    for deployment in pools:
        spec = pod_spec(deployment)
        assert spec["terminationGracePeriodSeconds"] > hard, deployment["metadata"]["name"]
        (container,) = spec["containers"]
        # the image's own command (it execs Celery, which gets the SIGTERM); no probe that could kill a job
        assert "command" not in container and "args" not in container
        assert not {"livenessProbe", "readinessProbe", "startupProbe"} & set(container)
    # a longer limit set for one pool moves its grace period with it
    longer = merged(FULL_VALUES, **{"workers.pools.gpu.env.VOXMOJI_JOB_HARD_TIME_LIMIT": "900"})
    gpu = named(render(longer), "Deployment", "voxmoji-worker-gpu")
    assert pod_spec(gpu)["terminationGracePeriodSeconds"] > 900

    celery = create_app({"TESTING": True}).extensions["celery"].conf
    assert celery.task_acks_late and celery.task_reject_on_worker_lost and celery.worker_prefetch_multiplier == 1
    assert celery.task_time_limit == load_config({})["JOB_HARD_TIME_LIMIT"]
    assert celery.broker_transport_options["visibility_timeout"] > celery.task_time_limit


def test_the_gpu_pool_asks_for_gpus_where_told():
    gpu = named(rendered("full"), "Deployment", "voxmoji-worker-gpu")
    spec = pod_spec(gpu)
    (container,) = spec["containers"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert spec["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in spec["tolerations"]
    assert {"name": "models", "mountPath": "/models", "readOnly": True} in container["volumeMounts"]
    assert {"name": "shared", "mountPath": "/shared"} in container["volumeMounts"]
    assert {"name": "shared", "persistentVolumeClaim": {"claimName": "voxmoji-shared"}} in spec["volumes"]
    env = {item["name"]: item["value"] for item in container["env"]}
    assert env["VOXMOJI_WORKER_POOL"] == "solo" and env["VOXMOJI_WORKER_ENGINES"] == "tts:cosyvoice3,sticker:sd-lora"
    # a rollout needs no spare GPU: the old worker goes (finishing its job) before the new one comes
    assert gpu["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 0, "maxUnavailable": 1}
    cpu = pod_spec(named(rendered("full"), "Deployment", "voxmoji-worker-cpu"))["containers"][0]
    assert "nvidia.com/gpu" not in cpu["resources"]["limits"]


def test_keda_scales_the_gpu_pool_on_queue_depth_down_to_zero():
    objects = rendered("full")
    (scaled,) = kind(objects, "ScaledObject")
    spec = scaled["spec"]
    assert spec["scaleTargetRef"]["name"] == "voxmoji-worker-gpu"
    assert "replicas" not in named(objects, "Deployment", "voxmoji-worker-gpu")["spec"]  # KEDA's to set
    assert spec["minReplicaCount"] == 0
    depth, wake = spec["triggers"]
    assert 'voxmoji_queue_depth{queue=~"tts.cosyvoice3|sticker.sd-lora"}' in depth["metadata"]["query"]
    assert "voxmoji_jobs_total" in wake["metadata"]["query"]
    # these are the metric and queue names the backend exports
    from backend import metrics
    from backend.engine_choice.lineup import QUEUES

    assert {"tts.cosyvoice3", "sticker.sd-lora"} <= set(QUEUES)
    assert metrics.JOBS._name == "voxmoji_jobs"
    assert "voxmoji_queue_depth" in (REPO / "backend" / "metrics.py").read_text()
    # without KEDA (its CRDs absent) no ScaledObject is made and the pool has fixed replicas
    plain = render(merged(FULL_VALUES, **{"keda.enabled": False}))
    assert not kind(plain, "ScaledObject")
    assert named(plain, "Deployment", "voxmoji-worker-gpu")["spec"]["replicas"] == 1


def test_what_could_never_wake_is_refused():
    values = merged(FULL_VALUES, **{"config.VOXMOJI_ENGINE_POLICY_STICKER": "gpu"})
    assert "VOXMOJI_ENGINE_POLICY_STICKER=gpu" in render_error(values)
    values = merged(FULL_VALUES, **{"workers.pools.cpu.replicas": 0})
    assert "no worker pool keeps a worker running" in render_error(values)


def test_beat_is_exactly_one():
    beat = named(rendered("full"), "Deployment", "voxmoji-beat")
    assert beat["spec"]["replicas"] == 1 and beat["spec"]["strategy"] == {"type": "Recreate"}
    assert not [pdb for pdb in kind(rendered("full"), "PodDisruptionBudget") if "beat" in pdb["metadata"]["name"]]


def test_the_web_tier_is_probed_and_scaled():
    from backend import create_app

    objects = rendered("full")
    web = named(objects, "Deployment", "voxmoji-web")
    (container,) = pod_spec(web)["containers"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    rules = {rule.rule for rule in create_app({"TESTING": True}).url_map.iter_rules()}
    assert {"/healthz", "/readyz", "/metrics"} <= rules
    assert "replicas" not in web["spec"]  # the HPA's
    (hpa,) = kind(objects, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "voxmoji-web"}
    nginx = named(objects, "Deployment", "voxmoji-nginx")
    env = {item["name"]: item.get("value") for item in pod_spec(nginx)["containers"][0]["env"]}
    service = named(objects, "Service", "voxmoji-web")
    assert env["VOXMOJI_API_UPSTREAM"] == f"voxmoji-web:{service['spec']['ports'][0]['port']}"


def test_nginx_sees_client_addresses_behind_a_load_balancer():
    """Nginx limits requests per client address: a LoadBalancer Service keeps the client's (Local), unless told."""
    service = named(rendered("local"), "Service", "voxmoji-nginx")
    assert service["spec"]["type"] == "LoadBalancer" and service["spec"]["externalTrafficPolicy"] == "Local"
    assert "externalTrafficPolicy" not in named(rendered("required"), "Service", "voxmoji-nginx")["spec"]


def test_only_nginx_and_prometheus_reach_the_web_pods():
    objects = rendered("full")
    (policy,) = kind(objects, "NetworkPolicy")
    web = named(objects, "Deployment", "voxmoji-web")
    nginx = named(objects, "Deployment", "voxmoji-nginx")
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= web["spec"]["template"]["metadata"]["labels"].items()
    (rule,) = policy["spec"]["ingress"]
    nginx_peer, prometheus_peer = rule["from"]
    assert nginx_peer["podSelector"]["matchLabels"].items() <= nginx["spec"]["template"]["metadata"]["labels"].items()
    assert "namespaceSelector" in prometheus_peer
    assert not kind(rendered("required"), "NetworkPolicy")


def test_every_pod_is_bounded_and_budgeted():
    for variant in helm_chart.VARIANTS:
        objects = rendered(variant)
        budgets = kind(objects, "PodDisruptionBudget")
        for workload in kind(objects, "Deployment") + kind(objects, "Job"):
            spec = pod_spec(workload)
            assert spec["securityContext"]["runAsNonRoot"] is True
            # Service links would add VOXMOJI_WEB_PORT=tcp://… and the like: names in the settings' namespace
            assert spec["enableServiceLinks"] is False and spec["automountServiceAccountToken"] is False
            for container in spec["containers"]:
                resources = container["resources"]
                assert {"cpu", "memory"} <= set(resources["requests"]) and {"cpu", "memory"} <= set(
                    resources["limits"]), (variant, workload["metadata"]["name"])
                assert container["securityContext"]["allowPrivilegeEscalation"] is False
            labels = workload["spec"]["template"]["metadata"]["labels"]
            covered = [pdb for pdb in budgets if pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()]
            one_only = workload["kind"] == "Job" or workload["metadata"]["name"].endswith("-beat")
            assert len(covered) == (0 if one_only else 1), (variant, workload["metadata"]["name"])


def test_every_reference_resolves():
    """Each ConfigMap and Secret a pod reads is rendered by the chart (or is the operator's existingSecret), and
    the migration Job reads hook-time copies (a pre-install hook runs before the chart's own objects exist)."""
    for variant, values in helm_chart.VARIANTS.items():
        objects = rendered(variant)
        made = {(obj["kind"], obj["metadata"]["name"]) for obj in objects}
        hooks = {(obj["kind"], obj["metadata"]["name"]) for obj in objects
                 if "helm.sh/hook" in obj["metadata"].get("annotations", {})}
        external = {("Secret", values["existingSecret"])} if values.get("existingSecret") else set()
        for workload in kind(objects, "Deployment") + kind(objects, "Job"):
            for container in pod_spec(workload)["containers"]:
                refs = [("ConfigMap", source["configMapRef"]["name"]) if "configMapRef" in source
                        else ("Secret", source["secretRef"]["name"]) for source in container.get("envFrom", [])]
                refs += [("Secret", item["valueFrom"]["secretKeyRef"]["name"]) for item in container.get("env", [])
                         if "valueFrom" in item]
                for ref in refs:
                    assert ref in made | external, (variant, workload["metadata"]["name"], ref)
                    if workload["kind"] == "Job":
                        assert ref in hooks | external, (variant, ref)


def test_the_scaled_object_lives_in_the_chart_only():
    """docs/ kept a copy of the KEDA manifest; the chart's is the one now."""
    assert not (REPO / "docs" / "keda-gpu-workers.yaml").exists()
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                           capture_output=True, text=True, check=True).stdout.split()
    copies = [name for name in files if not name.startswith("deploy/helm/") and name.endswith((".yaml", ".yml"))
              and (REPO / name).is_file() and "kind: ScaledObject" in (REPO / name).read_text(errors="ignore")]
    assert copies == [], copies
