"""NetworkPolicy evaluation: the paths the mesh needs are open, and nothing else is.

The policies are evaluated the way the Kubernetes NetworkPolicy API defines them: a pod
selected by no policy of a direction is open in that direction; a selected pod admits a
connection when some rule of some selecting policy matches the peer and the port. The needed
paths are derived from the rendered configuration, not listed by hand: every mesh pod reaches
DNS and the Kafka listener, and the host and port of each datastore URL its settings point
at (for in-cluster datastores, the pods behind the Service, whose own ingress must admit
it). Probes from unrelated pods and to unrelated ports must be refused.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from mesh_manifests.kafka_access import KAFKA_CLUSTER
from mesh_manifests.objects import (
    Finding,
    Manifest,
    containers,
    named,
    of_kind,
    pod_labels,
    ref,
    selector_matches,
)
from mesh_manifests.policy import NAMESPACE, is_mesh, secret_value, workloads
from mesh_manifests.service_settings import resolve_environment

_DEFAULT_PORTS = {
    "postgresql": 5432,
    "postgres": 5432,
    "redis": 6379,
    "rediss": 6379,
    "http": 80,
    "https": 443,
}


@dataclass(frozen=True)
class Endpoint:
    """One side of a connection: a pod (labels, namespace labels, named ports) or, with
    ``namespace`` None, an address outside the cluster."""

    name: str
    labels: dict[str, str] = field(default_factory=dict, hash=False)
    namespace: str | None = NAMESPACE
    ports: dict[str, int] = field(default_factory=dict, hash=False)

    @property
    def namespace_labels(self) -> dict[str, str]:
        """Labels of the endpoint's namespace (only the automatic name label matters here)."""
        return {} if self.namespace is None else {"kubernetes.io/metadata.name": self.namespace}


KUBE_DNS = Endpoint("kube-dns", {"k8s-app": "kube-dns"}, "kube-system", {"dns": 53})
BROKER = Endpoint("kafka-broker", {"strimzi.io/cluster": KAFKA_CLUSTER, "strimzi.io/kind": "Kafka"})
PROMETHEUS = Endpoint("prometheus", {"app.kubernetes.io/name": "prometheus"}, "monitoring")
INTRUDER = Endpoint("an unrelated pod of the namespace", {"app": "intruder"})
KEDA_OPERATOR = Endpoint("keda-operator", {"app": "keda-operator"}, "keda")
INTERNET = Endpoint("an address outside the cluster", namespace=None)


def _peer_matches(peer: Manifest, policy_namespace: str, other: Endpoint) -> bool:
    if "ipBlock" in peer:
        return other.namespace is None
    if other.namespace is None:
        return False
    if "namespaceSelector" in peer:
        if not selector_matches(peer["namespaceSelector"], other.namespace_labels):
            return False
    elif other.namespace != policy_namespace:
        return False
    return "podSelector" not in peer or selector_matches(peer["podSelector"], other.labels)


def _port_matches(
    rule_ports: list[Manifest] | None, target: Endpoint, port: int, protocol: str
) -> bool:
    if not rule_ports:
        return True
    for rule_port in rule_ports:
        if rule_port.get("protocol", "TCP") != protocol:
            continue
        wanted = rule_port.get("port")
        if wanted is None or wanted == port or target.ports.get(str(wanted)) == port:
            return True
    return False


def _side_allows(
    policies: list[Manifest],
    pod: Endpoint,
    direction: str,
    other: Endpoint,
    target: Endpoint,
    port: int,
    protocol: str,
) -> bool:
    if pod.namespace != NAMESPACE:
        return True  # another namespace's policies are not ours to judge
    kind, rules_key, peers_key = (
        ("Egress", "egress", "to") if direction == "egress" else ("Ingress", "ingress", "from")
    )
    selecting = [
        policy
        for policy in policies
        if selector_matches(policy["spec"].get("podSelector", {}), pod.labels)
        and kind in policy["spec"].get("policyTypes", ["Ingress"])
    ]
    if not selecting:
        return True
    for policy in selecting:
        for rule in policy["spec"].get(rules_key, []):
            peers = rule.get(peers_key)
            if peers and not any(_peer_matches(p, NAMESPACE, other) for p in peers):
                continue
            if _port_matches(rule.get("ports"), target, port, protocol):
                return True
    return False


def egress_allowed(
    policies: list[Manifest], source: Endpoint, target: Endpoint, port: int, protocol: str = "TCP"
) -> bool:
    """Whether the source's egress policies let it connect to ``target`` on ``port``."""
    return _side_allows(policies, source, "egress", target, target, port, protocol)


def ingress_allowed(
    policies: list[Manifest], source: Endpoint, target: Endpoint, port: int, protocol: str = "TCP"
) -> bool:
    """Whether the target's ingress policies admit ``source`` on ``port``."""
    return _side_allows(policies, target, "ingress", source, target, port, protocol)


def connection_allowed(
    policies: list[Manifest], source: Endpoint, target: Endpoint, port: int, protocol: str = "TCP"
) -> bool:
    """Whether the policies let ``source`` open a connection to ``target`` on ``port``
    (both the source's egress and the target's ingress)."""
    return egress_allowed(policies, source, target, port, protocol) and ingress_allowed(
        policies, source, target, port, protocol
    )


def endpoint_of(obj: Manifest) -> Endpoint:
    """A pod of a rendered workload, with its labels and named container ports."""
    ports = {
        str(port["name"]): int(port["containerPort"])
        for container in containers(obj)
        for port in container.get("ports", [])
        if "name" in port
    }
    return Endpoint(ref(obj), pod_labels(obj), NAMESPACE, ports)


def _service_backends(objects: list[Manifest], host: str, port: int) -> list[tuple[Endpoint, int]]:
    """Pods (and their port) behind an in-cluster Service host name, if it is rendered."""
    service_name = host.split(".")[0]
    if host not in (service_name, f"{service_name}.{NAMESPACE}.svc") and not host.startswith(
        f"{service_name}.{NAMESPACE}.svc."
    ):
        return []
    service = named(objects, "Service", service_name)
    if service is None:
        return []
    backends: list[tuple[Endpoint, int]] = []
    for service_port in service["spec"].get("ports", []):
        if service_port.get("port") != port:
            continue
        for obj in workloads(objects):
            # A Service selector is a plain label map (no matchLabels/matchExpressions).
            if selector_matches(
                {"matchLabels": service["spec"].get("selector", {})}, pod_labels(obj)
            ):
                pod = endpoint_of(obj)
                target = service_port.get("targetPort", port)
                named_port = pod.ports.get(str(target)) if isinstance(target, str) else None
                backends.append((pod, named_port if named_port is not None else int(target)))
    return backends


def _destinations(objects: list[Manifest], container: Manifest) -> Iterator[tuple[str, str, int]]:
    """(setting, host, port) of every URL a mesh container's settings point at."""
    secrets = {s["metadata"]["name"]: s for s in of_kind(objects, "Secret")}
    environment, _ = resolve_environment(container, objects, prefix="")
    for variable in container.get("env", []):
        name = variable["name"]
        secret_ref = variable.get("valueFrom", {}).get("secretKeyRef")
        if secret_ref is not None:
            secret = secrets.get(secret_ref["name"])
            value = secret_value(secret, secret_ref["key"]) if secret else None
            if value is None and name.endswith("_URL"):
                # A production Secret is not rendered: the URL points outside the cluster.
                scheme = "redis" if "REDIS" in name else "postgresql"
                yield name, "external.example", _DEFAULT_PORTS[scheme]
                continue
            if value is not None:
                environment[name] = value
    for name, value in sorted(environment.items()):
        if not (name.endswith("_URL") or name.endswith("_URI")) or "://" not in value:
            continue
        parts = urlsplit(value)
        if parts.hostname is None:
            continue
        yield name, parts.hostname, parts.port or _DEFAULT_PORTS.get(parts.scheme, 0)


def listener_policies(objects: list[Manifest]) -> list[Manifest]:
    """The ingress NetworkPolicies Strimzi writes for the Kafka cluster's listeners: broker
    pods admit the listener's networkPolicyPeers (everyone when it lists none) on its port."""
    policies: list[Manifest] = []
    for kafka in of_kind(objects, "Kafka"):
        cluster = kafka["metadata"]["name"]
        for listener in kafka["spec"]["kafka"].get("listeners", []):
            rule: Manifest = {"ports": [{"protocol": "TCP", "port": listener["port"]}]}
            if listener.get("networkPolicyPeers"):
                rule["from"] = listener["networkPolicyPeers"]
            policies.append(
                {
                    "kind": "NetworkPolicy",
                    "metadata": {"name": f"{cluster}-listener-{listener['name']}"},
                    "spec": {
                        "podSelector": {
                            "matchLabels": {
                                "strimzi.io/cluster": cluster,
                                "strimzi.io/kind": "Kafka",
                            }
                        },
                        "policyTypes": ["Ingress"],
                        "ingress": [rule],
                    },
                }
            )
    return policies


PUBLIC_SERVICES = frozenset({"gateway", "ingest", "monitor"})
"""Services whose HTTP port is reachable from outside the cluster (APIs and the dashboard)."""


def _workload_paths(
    obj: Manifest, objects: list[Manifest], policies: list[Manifest]
) -> Iterator[tuple[bool, str]]:
    """(whether the path is as it must be, what) for the paths of one mesh workload."""
    pod = endpoint_of(obj)
    yield connection_allowed(policies, pod, KUBE_DNS, 53, "UDP"), "blocked: DNS (kube-dns, 53/UDP)"
    yield connection_allowed(policies, pod, BROKER, 9093), "blocked: Kafka brokers on 9093"
    for container in containers(obj):
        if not is_mesh(container):
            continue
        for setting, host, port in _destinations(objects, container):
            backends = _service_backends(objects, host, port)
            if not backends:
                external = Endpoint(host, namespace=None)
                yield (
                    connection_allowed(policies, pod, external, port),
                    f"blocked: {setting} ({host}:{port})",
                )
            for backend, target_port in backends:
                yield (
                    connection_allowed(policies, pod, backend, target_port),
                    f"blocked: {setting} ({backend.name}:{target_port})",
                )
    http = pod.ports.get("http")
    if obj["kind"] == "Deployment" and http is not None:
        yield (
            connection_allowed(policies, PROMETHEUS, pod, http),
            "blocked: metrics scrape from monitoring",
        )
        from_outside = connection_allowed(policies, INTERNET, pod, http)
        if pod.labels.get("app.kubernetes.io/name") in PUBLIC_SERVICES:
            yield from_outside, f"blocked: public HTTP on {http}"
        else:
            yield not from_outside, f"open but not needed: HTTP {http} from outside the cluster"
            # One side only: the intruder's own egress is denied too, which would hide an
            # ingress rule that is open to every pod.
            yield (
                not ingress_allowed(policies, INTRUDER, pod, http),
                f"open but not needed: HTTP {http} from any pod",
            )
    yield (
        not egress_allowed(policies, pod, INTERNET, 8080),
        "open but not needed: egress to any address on 8080",
    )
    yield (
        not egress_allowed(policies, pod, INTRUDER, 9093),
        "open but not needed: egress to any pod on 9093",
    )


def check_network(objects: list[Manifest]) -> list[Finding]:
    """Default deny is in place; every needed path is open; unrelated paths are closed."""
    policies = of_kind(objects, "NetworkPolicy") + listener_policies(objects)
    findings: list[Finding] = []
    if not any(
        policy["spec"].get("podSelector") == {}
        and set(policy["spec"].get("policyTypes", [])) == {"Ingress", "Egress"}
        and not policy["spec"].get("ingress")
        and not policy["spec"].get("egress")
        for policy in policies
    ):
        findings.append(Finding("network", "NetworkPolicy", "no default-deny (both directions)"))
    for obj in workloads(objects):
        if any(is_mesh(container) for container in containers(obj)):
            findings.extend(
                Finding("network", ref(obj), what)
                for as_it_must_be, what in _workload_paths(obj, objects, policies)
                if not as_it_must_be
            )
        else:
            # An in-cluster datastore admits only the services whose settings point at it.
            store = endpoint_of(obj)
            findings.extend(
                Finding(
                    "network", ref(obj), f"open but not needed: {store.name}:{port} from any pod"
                )
                for port in store.ports.values()
                if ingress_allowed(policies, INTRUDER, store, port)
            )
    # KEDA reads consumer lag from the brokers; no other pod outside the mesh reaches them.
    if of_kind(objects, "ScaledObject") and not connection_allowed(
        policies, KEDA_OPERATOR, BROKER, 9093
    ):
        findings.append(
            Finding("network", "Kafka", "blocked: KEDA's operator to the brokers on 9093")
        )
    if ingress_allowed(policies, INTRUDER, BROKER, 9093):
        findings.append(Finding("network", "Kafka", "open but not needed: any pod to the brokers"))
    return findings
