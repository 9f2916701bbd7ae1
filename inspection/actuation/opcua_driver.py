"""OPC UA gate driver: asyncua's sync client writing Boolean variables, one short request per write, one thread only.

Every failure (refused, timed out, unknown node, access denied, rejected certificate) becomes a
`DriverError` naming the endpoint, the node and its config key, and what to check. The client is
dropped on any failure and rebuilt by `connect`: the scheduler retries with back-off, so asyncua's
own auto-reconnect stays off (it would hold requests while it reconnects, and a late pulse is worse
than a failed one).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path

from asyncua import ua
from asyncua.crypto.security_policies import SecurityPolicyBasic256Sha256
from asyncua.sync import Client, SyncNode
from asyncua.ua.attribute_ids import AttributeIds
from asyncua.ua.object_ids import ObjectIds
from asyncua.ua.uaerrors import UaError, UaStatusCodeError
from cryptography import x509

from inspection.actuation.driver import INPUTS, DriverError, InputName, Output
from inspection.config.actuation import OpcUaDriverConfig, OpcUaInput

log = logging.getLogger(__name__)

# A station killed without closing its session holds one of the PLC's few sessions until this expires.
SESSION_TIMEOUT_MS = 30_000
BOOLEAN = ua.NodeId(ua.Int32(ObjectIds.Boolean))
_NODE_HINT = "check the node id against the server's address space (browse it, e.g. with UaExpert)"
_ACCESS_HINT = "check the variable's access level and this user's rights on the server"
_SECURITY_HINT = (
    "check that the server trusts the station's certificate (PLCs often park new client certificates "
    "as 'rejected' until trusted) and allows this security_policy / security_mode"
)
HINTS = {
    "BadNodeIdUnknown": _NODE_HINT,
    "BadNodeIdInvalid": _NODE_HINT,
    "BadUserAccessDenied": _ACCESS_HINT,
    "BadNotWritable": _ACCESS_HINT,
    "BadNotReadable": _ACCESS_HINT,
    "BadWriteNotSupported": "the server refuses this kind of write",
    "BadTypeMismatch": "the variable must be a Boolean",
    "BadIdentityTokenInvalid": "check username and the password in the password_env variable",
    "BadIdentityTokenRejected": "check username and the password in the password_env variable",
    "BadSecurityChecksFailed": _SECURITY_HINT,
    "BadCertificateUntrusted": _SECURITY_HINT,
    "BadCertificateInvalid": _SECURITY_HINT,
    "BadSecurityPolicyRejected": _SECURITY_HINT,
    "BadSecurityModeRejected": _SECURITY_HINT,
    "BadTooManySessions": f"the session limit is reached (stale sessions expire in {SESSION_TIMEOUT_MS // 1000} s)",
}


class OpcUaDriver:
    def __init__(self, config: OpcUaDriverConfig, environ: Mapping[str, str] | None = None) -> None:
        self.config = config
        self.device_pulse = config.output_mode == "pulse"
        self.has_line_stop = config.line_stop is not None
        self.io_timeout_s = config.timeout_s  # a reconnect may take connect_timeout_s: it runs only while disconnected
        wired = {name: getattr(config.inputs, name) for name in INPUTS}
        self._inputs: dict[InputName, OpcUaInput] = {name: spec for name, spec in wired.items() if spec is not None}
        self.inputs: frozenset[InputName] = frozenset(self._inputs)
        self._environ = os.environ if environ is None else environ
        self._keys: dict[str, str] = {spec.node: f"inputs.{name}" for name, spec in self._inputs.items()}
        for key in ("line_stop", "divert"):
            if (node_id := getattr(config, key)) is not None:
                self._keys[node_id] = key
        self._keys[config.gate] = "gate"
        self._client: Client | None = None
        self._nodes: dict[str, SyncNode] = {}  # node id -> node of the current client

    @property
    def connected(self) -> bool:
        return self._client is not None

    def connect(self) -> None:
        """Channel, session, then one check that every configured node exists, is Boolean and accessible."""
        self._drop()
        deadline = time.monotonic() + self.config.connect_timeout_s
        client = Client(self.config.endpoint, timeout=self.config.timeout_s, sync_wrapper_timeout=None)
        client.aio_obj.session_timeout = SESSION_TIMEOUT_MS
        try:
            self._credentials(client, deadline)
            _budget(client, deadline)
            client.connect()
        except Exception as exc:
            client.tloop.stop()  # nothing to close: asyncua closed the socket of the failed attempt
            if isinstance(exc, DriverError):
                raise
            raise DriverError(self._explain("connecting", None, exc)) from exc
        try:
            _budget(client, deadline)
            self._nodes = self._checked_nodes(client)
        except Exception as exc:
            _disconnect(client)
            if isinstance(exc, DriverError):
                raise
            raise DriverError(self._explain("checking the configured nodes", None, exc)) from exc
        client.tloop.timeout = self.config.timeout_s  # from now on: one read or write
        self._client = client

    def write(self, output: Output, on: bool) -> None:
        node_id = {"gate": self.config.gate, "line_stop": self.config.line_stop, "divert": self.config.divert}[output]
        if node_id is None:
            return
        node = self._require(node_id)
        # A DataValue without timestamps: written timestamps make some PLCs (S7-1500) answer BadWriteNotSupported.
        value = ua.DataValue(ua.Variant(on, ua.VariantType.Boolean))
        try:
            node.write_value(value)
        except Exception as exc:
            raise self._lost(f"writing {on}", node_id, exc) from exc

    def read_inputs(self) -> Mapping[InputName, bool]:
        """All inputs in one Read request."""
        if not self._inputs:
            return {}
        client = self._client
        nodes = [self._require(spec.node) for spec in self._inputs.values()]
        assert client is not None  # _require raised otherwise
        try:
            values: list[ua.DataValue] = client.read_attributes(nodes, AttributeIds.Value)
        except Exception as exc:
            raise self._lost("reading the inputs", None, exc) from exc
        active: dict[InputName, bool] = {}
        for (name, spec), data in zip(self._inputs.items(), values, strict=True):
            status = data.StatusCode or ua.StatusCode()
            value = data.Value.Value if data.Value is not None else None
            if not status.is_good() or not isinstance(value, bool):
                what = f"the server answered {status.name}" if not status.is_good() else f"{value!r} is not a Boolean"
                self._drop()
                hint = HINTS.get(status.name, "check the PLC program behind this variable")
                raise DriverError(f"{self._where(spec.node)}: reading: {what}: {hint}")
            active[name] = value == spec.active_when
        return active

    def close(self) -> None:
        self._drop()

    # -- connecting ------------------------------------------------------------------------------

    def _credentials(self, client: Client, deadline: float) -> None:
        config = self.config
        if config.username is not None and config.password_env is not None:
            password = self._environ.get(config.password_env)
            if password is None:
                raise DriverError(
                    f"{config.endpoint}: the environment variable {config.password_env} (actuator.driver.password_env) "
                    "is not set: the station needs the OPC UA password there"
                )
            client.set_user(config.username)
            client.set_password(password)
        if config.security_policy == "None" or config.certificate is None or config.private_key is None:
            return
        if (uri := _application_uri(config.certificate)) is not None:
            client.application_uri = uri  # servers check that it matches the certificate's URI
        _budget(client, deadline)
        client.set_security(  # without server_certificate this fetches it from the endpoints: a network round trip
            SecurityPolicyBasic256Sha256,
            certificate=str(config.certificate),
            private_key=str(config.private_key),
            server_certificate=None if config.server_certificate is None else str(config.server_certificate),
            mode=ua.MessageSecurityMode[config.security_mode],
        )

    def _checked_nodes(self, client: Client) -> dict[str, SyncNode]:
        """Two Read requests at connect time, so a wrong node id is reported now, not at the first reject."""
        nodes = {node_id: client.get_node(node_id) for node_id in self._keys}
        types: list[ua.DataValue] = client.read_attributes(list(nodes.values()), AttributeIds.DataType)
        levels: list[ua.DataValue] = client.read_attributes(list(nodes.values()), AttributeIds.UserAccessLevel)
        for (node_id, key), data_type, level in zip(self._keys.items(), types, levels, strict=True):
            status = data_type.StatusCode or ua.StatusCode()
            if not status.is_good():
                hint = HINTS.get(status.name, _NODE_HINT)
                raise DriverError(f"{self._where(node_id)}: the server answered {status.name}: {hint}")
            found = data_type.Value.Value if data_type.Value is not None else None
            if found != BOOLEAN:
                raise DriverError(f"{self._where(node_id)}: its data type is {found}, not Boolean: {_NODE_HINT}")
            need = ua.AccessLevelType.CurrentRead if key.startswith("inputs.") else ua.AccessLevelType.CurrentWrite
            bits = level.Value.Value if level.Value is not None else 0
            if not isinstance(bits, int) or not bits & need:
                verb = "read" if need == ua.AccessLevelType.CurrentRead else "write"
                raise DriverError(f"{self._where(node_id)}: this user may not {verb} it: {_ACCESS_HINT}")
        return nodes

    # -- failures --------------------------------------------------------------------------------

    def _require(self, node_id: str) -> SyncNode:
        if self._client is None:
            raise DriverError(f"not connected to OPC UA server {self.config.endpoint}")
        return self._nodes[node_id]

    def _lost(self, doing: str, node_id: str | None, exc: Exception) -> DriverError:
        self._drop()
        return DriverError(self._explain(doing, node_id, exc))

    def _drop(self) -> None:
        client, self._client, self._nodes = self._client, None, {}
        if client is not None:
            _disconnect(client)

    def _where(self, node_id: str | None) -> str:
        if node_id is None:
            return self.config.endpoint
        return f"{self.config.endpoint} node {node_id} (actuator.driver.{self._keys[node_id]})"

    def _explain(self, doing: str, node_id: str | None, exc: Exception) -> str:
        return f"{self._where(node_id)}: {doing}: {self._what(doing, exc)}"

    def _what(self, doing: str, exc: Exception) -> str:
        """What went wrong and what to check; connecting has causes of its own (credentials, certificates)."""
        config = self.config
        connecting = doing == "connecting"
        if isinstance(exc, UaStatusCodeError):
            name = ua.StatusCode(exc.code).name
            if connecting and name == "BadUserAccessDenied" and config.username is None:
                return f"the server answered {name}: it refuses anonymous sessions: set username and password_env"
            if connecting and name == "BadUserAccessDenied":
                return f"the server answered {name}: check username and the password in password_env"
            return f"the server answered {name}: {HINTS.get(name, 'see the server diagnostics')}"
        if isinstance(exc, TimeoutError):
            pinned = " (or server_certificate is not this server's)" if connecting and config.server_certificate else ""
            return (
                f"no answer in time: check the network and the server's load{pinned}, "
                "or raise timeout_s / connect_timeout_s"
            )
        if isinstance(exc, ConnectionRefusedError):
            return "connection refused: check that the server runs and the endpoint's host and port"
        if isinstance(exc, OSError):
            return f"{exc}: check that the server runs and the network between station and PLC"
        if isinstance(exc, UaError) and "No matching endpoints" in str(exc):
            mode = "None" if config.security_policy == "None" else config.security_mode
            return (
                f"the server offers no endpoint with security_policy = {config.security_policy}, "
                f"security_mode = {mode}: set what the server allows"
            )
        if isinstance(exc, UaError) and config.security_policy != "None":
            return f"{exc}: {_SECURITY_HINT}"
        return f"{type(exc).__name__}: {exc}"


def _budget(client: Client, deadline: float) -> None:
    """The rest of the connect budget bounds the next blocking call (asyncua waits 120 s by default)."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("connect_timeout_s used up")
    client.tloop.timeout = left


def _disconnect(client: Client) -> None:
    """CloseSession (frees the session on the PLC), bounded by the client's timeout; the loop thread always ends."""
    try:
        client.disconnect()
    except Exception as exc:
        log.debug("OPC UA disconnect: %s", exc)


def _application_uri(path: Path) -> str | None:
    """The certificate's URI SubjectAltName: the application URI the session must announce."""
    try:
        data = path.read_bytes()
        cert = x509.load_pem_x509_certificate(data) if b"-----BEGIN" in data else x509.load_der_x509_certificate(data)
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (OSError, ValueError, x509.ExtensionNotFound) as exc:
        raise DriverError(
            f"cannot use the OPC UA client certificate {path} (actuator.driver.certificate): {exc}"
        ) from exc
    uris = names.get_values_for_type(x509.UniformResourceIdentifier)
    return uris[0] if uris else None
