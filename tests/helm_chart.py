"""The Helm chart (deploy/helm/voxmoji) rendered by Helm's own template engine, in this process, and checked
against the schemas of what it makes.

- Rendering and lint: helm-python-sdk binds (ctypes) to libhelm_c, a C ABI over Helm's Go SDK (v4) that the
  wheel ships: `helm template` and `helm lint` semantics without a helm binary or a network.
- Kubernetes objects: kubernetes-validate's strict schemas (the OpenAPI of each Kubernetes release, shipped in
  the wheel; unknown fields are errors), for the oldest and newest releases the chart supports.
- KEDA's ScaledObject (a CRD): the JSON schema of cloudcoil-models-keda's ScaledObject model (generated from
  the CRD's openAPIV3Schema of KEDA 2.16), made strict the way `kubectl apply`'s field validation is: a field
  the CRD does not define is an error, not silently pruned.
"""
import copy
from functools import lru_cache
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
CHART = REPO / "deploy" / "helm" / "voxmoji"
RELEASE, NAMESPACE = "voxmoji", "voxmoji"
# The chart's kubeVersion floor and the newest release kubernetes-validate ships schemas for.
KUBE_VERSIONS = ("1.27.0", "1.37.0")

SECRET = "s" * 48  # 48 bytes, as `secrets.token_urlsafe(48)` makes: long enough for config.py

# The smallest values an operator must give (on top of the chart's defaults).
REQUIRED_VALUES = {
    "config": {"PUBLIC_BASE_URL": "https://api.example.com", "S3_BUCKET": "voxmoji-media",
               "S3_ENDPOINT_URL": "https://cos.ap-shanghai.myqcloud.com", "S3_REGION": "ap-shanghai"},
    "secrets": {"VOXMOJI_SECRET_KEY": "k" + SECRET, "VOXMOJI_MEDIA_SECRET": "m" + SECRET,
                "DATABASE_URL": "postgresql+psycopg://voxmoji:pw@postgres:5432/voxmoji",
                "REDIS_URL": "redis://:pw@redis:6379/0"},
}

# Everything turned on: the GPU pool with its weights, KEDA, an Ingress, WeChat's credentials, S3 keys.
FULL_VALUES = {
    "config": {**REQUIRED_VALUES["config"], "MEDIA_PUBLIC_BASE": "https://media.example.com"},
    "secrets": {**REQUIRED_VALUES["secrets"], "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": "x" * 40,
                "WECHAT_APPID": "wx0123456789abcdef", "WECHAT_SECRET": "w" * 32, "WECHAT_PUSH_TOKEN": "token123",
                "WECHAT_PUSH_AES_KEY": "a" * 43},
    "keda": {"enabled": True},
    "ingress": {"enabled": True, "className": "nginx", "host": "api.example.com", "tlsSecretName": "api-tls"},
    "imagePullSecrets": [{"name": "registry"}],
    "networkPolicy": {"enabled": True, "metricsFrom": [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}]},
    "workers": {"pools": {"gpu": {
        "enabled": True, "modelsVolume": {"persistentVolumeClaim": {"claimName": "voxmoji-models", "readOnly": True}},
        "nodeSelector": {"nvidia.com/gpu.present": "true"},
        "env": {"COSYVOICE_SPEAKER_DIR": "/shared/cosyvoice-speakers"},
        "extraVolumes": [{"name": "shared", "persistentVolumeClaim": {"claimName": "voxmoji-shared"}}],
        "extraVolumeMounts": [{"name": "shared", "mountPath": "/shared"}]}}},
}

# The other shapes: local media on a shared volume, a Secret made elsewhere, fixed replicas, no KEDA.
LOCAL_VALUES = {
    "config": {"PUBLIC_BASE_URL": "https://api.example.com", "VOXMOJI_MEDIA_STORAGE": "local"},
    "existingSecret": "voxmoji-made-elsewhere",
    "media": {"localClaim": "voxmoji-media"},
    "web": {"autoscaling": {"enabled": False}},
    "nginx": {"service": {"type": "LoadBalancer"}},
}

VARIANTS = {"required": REQUIRED_VALUES, "full": FULL_VALUES, "local": LOCAL_VALUES}


def merged(base, **overrides):
    """A deep copy of `base` with dotted keys set (`"secrets.REDIS_URL": None` removes one)."""
    values = copy.deepcopy(base)
    for dotted, value in overrides.items():
        *parents, leaf = dotted.split(".")
        node = values
        for key in parents:
            node = node.setdefault(key, {})
        if value is None:
            node.pop(leaf, None)
        else:
            node[leaf] = value
    return values


def render_files(values):
    """{template path: rendered text}, as `helm template` makes them (raises helm_python.HelmError)."""
    import helm_python

    with helm_python.Chart.load(CHART) as chart:
        return chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)


def render(values):
    """The rendered Kubernetes objects (NOTES.txt left out)."""
    objects = []
    for path, text in sorted(render_files(values).items()):
        if path.endswith(".yaml"):
            objects.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return objects


@lru_cache(maxsize=None)
def rendered(variant):
    """The objects of one of VARIANTS (cached: read-only use)."""
    return tuple(render(VARIANTS[variant]))


def lint(values, strict=True):
    """`helm lint --strict` of the chart: {"messages": [{"severity", "path", "error"}], "errors": [...]}."""
    import helm_python

    return helm_python.lint(CHART, values, strict=strict, kube_version=f"v{KUBE_VERSIONS[-1]}")


def kind(objects, kind_name):
    return [obj for obj in objects if obj["kind"] == kind_name]


def named(objects, kind_name, name):
    (obj,) = [obj for obj in kind(objects, kind_name) if obj["metadata"]["name"] == name]
    return obj


def pod_spec(obj):
    return obj["spec"]["template"]["spec"]


def _strict(schema):
    """Every object schema that lists its properties rejects others (what kubectl's Strict field validation
    does with a custom resource); maps (additionalProperties given) and free-form objects stay open."""
    if isinstance(schema, dict):
        schema = {key: _strict(value) for key, value in schema.items()}
        if "properties" in schema and "additionalProperties" not in schema:
            schema["additionalProperties"] = False
        return schema
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    return schema


@lru_cache(maxsize=None)
def keda_validator(kind_name):
    """A JSON-schema validator of a KEDA custom resource (keda.sh/v1alpha1)."""
    import jsonschema
    from cloudcoil.models.keda import v1alpha1

    schema = _strict(getattr(v1alpha1, kind_name).model_json_schema(by_alias=True, mode="validation"))
    # cloudcoil leaves these optional (it fills them in); in a manifest they must be there.
    schema["required"] = sorted({*schema.get("required", ()), "apiVersion", "kind", "metadata", "spec"})
    schema["properties"]["apiVersion"] = {"const": "keda.sh/v1alpha1"}
    schema["properties"]["kind"] = {"const": kind_name}
    return jsonschema.Draft202012Validator(schema)


def schema_errors(obj, kube_version):
    """What is wrong with one object against its schema (empty: valid)."""
    import kubernetes_validate

    if obj["apiVersion"].startswith("keda.sh/"):
        return [_where(error) for error in keda_validator(obj["kind"]).iter_errors(obj)]
    try:
        kubernetes_validate.validate(obj, kube_version, strict=True)
    except kubernetes_validate.ValidationError as error:
        return [_where(error)]
    return []


def _where(error):
    return f"{'/'.join(map(str, error.absolute_path)) or '(root)'}: {error.message}"
