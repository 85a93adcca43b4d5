"""The local FHIR R4 sandbox: a stand-in national endpoint for the demo and the tests.

Runs the `sekmet-fhir` server from its own venv (`make sandbox`):

    var/sandbox-venv/bin/python sandbox/launch.py --port 8090 --data-dir var/sandbox-run \
        --examples var/ips-2.0.0/package/example [--load FILE]... \
        [--smart-client-id ID ... | --authorization-server ISSUER]

Every start is fresh: the old database is deleted, the HL7 IPS 2.0.0 example bundles and every --load file
are stored, and only then does the server listen, so a 200 from `<base>/metadata` means "fully loaded".
It prints `sandbox ready <base_url>` once listening and exits cleanly on SIGTERM or SIGINT.
`--no-examples` instead of `--examples` stores the --load files only: one source of the three-source test
world (sandbox/make_sources.py), which must not also hold every example.

Open by default. `--smart-client-id` requires SMART backend-services tokens from the server's own token
endpoint. `--authorization-server ISSUER` makes it a SMART App Launch data source instead: its
smart-configuration names that authorization server (sandbox/eid/authorization-server.mjs), and every request
but /metadata needs one of its access tokens, which opens one patient's record only (patient_access.py).

The server falls short of a national endpoint in three ways, mended here and never in the portal:
it has no search parameters for a few IPS resource types, its Patient/$everything misses resources,
and it would store only one of two IPS examples that share a Composition id.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Any

import uvicorn
from patient_access import PatientAccessGuard, TokenVerifier, discover, smart_configuration
from sekmet.config import ServerAuth, Settings, SimulatorSettings, SmartClient, ValidationSettings
from sekmet.fhir.bundle import process_bundle
from sekmet.fhir.common import FhirError
from sekmet.fhir.search_params import PARAMS, SearchParam
from sekmet.main import create_app

DB_NAME = "sandbox.sqlite3"

# Search parameters the server lacks (R4 definitions). Without them it ignores the criterion and answers
# with every resource of the type, or 400 under `Prefer: handling=strict`.
EXTRA_SEARCH_PARAMS: dict[str, list[SearchParam]] = {
    "DeviceUseStatement": [
        SearchParam("identifier", "token", ("identifier",)),
        SearchParam("subject", "reference", ("subject",)),
        SearchParam("patient", "reference", ("subject",), "Patient"),
        SearchParam("device", "reference", ("device",)),
        SearchParam("status", "token", ("status",)),
    ],
    "Composition": [
        SearchParam("identifier", "token", ("identifier",)),
        SearchParam("subject", "reference", ("subject",)),
        SearchParam("patient", "reference", ("subject",), "Patient"),
        SearchParam("type", "token", ("type",)),
        SearchParam("category", "token", ("category",)),
        SearchParam("status", "token", ("status",)),
        SearchParam("date", "date", ("date",)),
        SearchParam("author", "reference", ("author",)),
        SearchParam("title", "string", ("title",)),
        SearchParam("section", "token", ("section.code",)),
        SearchParam("entry", "reference", ("section.entry",)),
    ],
    "ClinicalImpression": [
        SearchParam("identifier", "token", ("identifier",)),
        SearchParam("subject", "reference", ("subject",)),
        SearchParam("patient", "reference", ("subject",), "Patient"),
        SearchParam("status", "token", ("status",)),
        SearchParam("date", "date", ("effectiveDateTime", "effectivePeriod")),
        SearchParam("encounter", "reference", ("encounter",)),
        SearchParam("assessor", "reference", ("assessor",)),
        SearchParam("problem", "reference", ("problem",)),
        SearchParam("finding-code", "token", ("finding.itemCodeableConcept",)),
        SearchParam("finding-ref", "reference", ("finding.itemReference",)),
    ],
}

# Every type the portal searches by patient for the IPS sections.
PATIENT_SEARCHED_TYPES = (
    "AllergyIntolerance", "CarePlan", "ClinicalImpression", "Condition", "Consent",
    "DeviceUseStatement", "DiagnosticReport", "DocumentReference", "Flag", "Immunization",
    "MedicationRequest", "MedicationStatement", "Observation", "Procedure",
)  # fmt: skip

# Two IPS 2.0.0 examples share a Composition id; the later one gets the suffix its other resources carry.
SHARED_COMPOSITION_ID = "30551ce1-5a28-4356-b684-1e639094ad4d"
RENAMED_EXAMPLE_IDS: dict[str, dict[tuple[str, str], str]] = {
    "Bundle-IPS-examples-Bundle-with-immunization.json": {
        ("Composition", SHARED_COMPOSITION_ID): f"{SHARED_COMPOSITION_ID}-with-immunization",
    },
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Run the local FHIR R4 sandbox with the IPS examples loaded."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--data-dir", type=Path, required=True, help="holds the sandbox database")
    parser.add_argument("--examples", type=Path, help="directory of IPS Bundle-*.json examples")
    parser.add_argument(
        "--no-examples", action="store_true", help="store only the --load bundles, none of the examples"
    )
    parser.add_argument("--load", type=Path, action="append", default=[], help="another Bundle to store")
    parser.add_argument("--smart-client-id", help="require SMART backend-services tokens for this client")
    parser.add_argument("--smart-client-secret-file", type=Path, help="client secret (first line)")
    parser.add_argument("--smart-public-key-file", type=Path, help="PEM public key for private_key_jwt")
    parser.add_argument("--smart-scopes", default="system/*.read")
    parser.add_argument(
        "--authorization-server",
        metavar="ISSUER",
        help="require SMART App Launch access tokens of this authorization server, one patient each",
    )
    args = parser.parse_args(argv)
    if bool(args.examples) == args.no_examples:
        parser.error("give either --examples DIR or --no-examples (with --load)")
    if args.no_examples and not args.load:
        parser.error("--no-examples needs at least one --load bundle")
    if args.authorization_server and args.smart_client_id:
        parser.error("--authorization-server and --smart-client-id are two different modes: choose one")
    smart_extras = args.smart_client_secret_file or args.smart_public_key_file
    if smart_extras and not args.smart_client_id:
        parser.error("--smart-client-secret-file / --smart-public-key-file need --smart-client-id")
    if args.smart_client_id and not smart_extras:
        parser.error("--smart-client-id needs --smart-client-secret-file and/or --smart-public-key-file")
    return args


def build_settings(args: argparse.Namespace) -> Settings:
    data_dir: Path = args.data_dir.resolve()
    auth = ServerAuth(types=["none"])
    if args.smart_client_id:
        secret = None
        if args.smart_client_secret_file:
            secret = args.smart_client_secret_file.read_text(encoding="utf-8").splitlines()[0].strip()
        key = args.smart_public_key_file
        client = SmartClient(
            client_id=args.smart_client_id,
            client_secret=secret,
            public_key_path=str(key.resolve()) if key else None,
            scopes=args.smart_scopes,
        )
        auth = ServerAuth(types=["smart"], smart_clients=[client], enforce_scopes=True)
    return Settings(
        base_url=f"http://{args.host}:{args.port}/fhir",
        host=args.host,
        port=args.port,
        data_dir=str(data_dir),
        db_path=str(data_dir / DB_NAME),
        own_private_key_path=str(data_dir / "keys" / "sandbox.pem"),
        facility_name="Yellow Button sandbox national endpoint",
        server_auth=auth,
        validation=ValidationSettings(inbound="strict"),
        simulator=SimulatorSettings(enabled=False, auto=[]),
        log_inbound=False,
    )


def fresh_data_dir(data_dir: Path) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm", "-journal"):
        (data_dir / f"{DB_NAME}{suffix}").unlink(missing_ok=True)


def extend_search_params() -> None:
    """Add the missing parameters to the server's table; the indexer reads it on every write."""
    for rtype, params in EXTRA_SEARCH_PARAMS.items():
        PARAMS.setdefault(rtype, {}).update({param.name: param for param in params})
    missing = [rtype for rtype in PATIENT_SEARCHED_TYPES if "patient" not in PARAMS.get(rtype, {})]
    if missing:
        raise SystemExit(f"sandbox: no `patient` search parameter for {', '.join(missing)}")


def as_transaction(bundle: Any, source: str, renames: dict[tuple[str, str], str]) -> dict[str, Any]:
    """Any Bundle (document, collection, transaction, searchset) as a transaction of PUTs by id."""
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise SystemExit(f"sandbox: {source} is not a FHIR Bundle")
    entries = []
    for entry in bundle.get("entry") or []:
        resource = entry.get("resource")
        if not isinstance(resource, dict) or resource.get("resourceType") in (None, "OperationOutcome"):
            continue
        rtype = resource["resourceType"]
        new_id = renames.get((rtype, resource.get("id", "")))
        if new_id:
            resource = {**resource, "id": new_id}
        if resource.get("id"):
            request = {"method": "PUT", "url": f"{rtype}/{resource['id']}"}
        else:
            request = {"method": "POST", "url": rtype}
        converted = {"resource": resource, "request": request}
        if entry.get("fullUrl"):  # urn:uuid and absolute references to it are rewritten to Type/id
            converted["fullUrl"] = entry["fullUrl"]
        entries.append(converted)
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def load_bundles(service: Any, paths: list[Path], examples_dir: Path | None) -> int:
    stored = 0
    for path in paths:
        renames = RENAMED_EXAMPLE_IDS.get(path.name, {}) if path.parent == examples_dir else {}
        transaction = as_transaction(json.loads(path.read_bytes()), str(path), renames)
        try:
            process_bundle(service, transaction, prefer="return=minimal")
        except FhirError as error:
            details = "; ".join(str(issue.get("diagnostics")) for issue in error.issues[:5])
            raise SystemExit(f"sandbox: could not load {path}: {error.message} {details}") from error
        stored += len(transaction["entry"])
    return stored


def patient_access_guard(app: Any, issuer: str, base_url: str) -> PatientAccessGuard:
    """The FHIR server behind the SMART App Launch check, with the authorization server's keys loaded."""
    discovery = discover(issuer)
    verifier = TokenVerifier(issuer=discovery["issuer"], audience=base_url, jwks_uri=discovery["jwks_uri"])
    verifier.load_keys()
    return PatientAccessGuard(
        app,
        verifier=verifier,
        configuration=smart_configuration(discovery),
        base_url=base_url,
        has_search_param=lambda rtype, name: name in PARAMS.get(rtype, {}),
    )


def _exit_on_signal(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


class SandboxServer(uvicorn.Server):
    """Announces readiness once the socket listens."""

    ready_line = ""

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            sys.stdout.write(self.ready_line + "\n")
            sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    # Until uvicorn takes the signals over (and again after it hands them back), a stop request exits with 0.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    signal.signal(signal.SIGINT, _exit_on_signal)
    args = parse_args(argv)
    examples_dir: Path | None = None if args.no_examples else args.examples.resolve()
    examples = sorted(examples_dir.glob("Bundle-*.json")) if examples_dir else []
    if examples_dir and not examples:
        raise SystemExit(f"sandbox: no Bundle-*.json in {examples_dir} (run `make sandbox`)")
    settings = build_settings(args)
    fresh_data_dir(Path(settings.data_dir))
    extend_search_params()

    app = create_app(settings)
    logging.getLogger().setLevel(logging.WARNING)
    ctx = app.state.ctx
    # Its $everything misses resources: not advertised, clients fall back to per-type searches.
    ctx.service.operations.pop(("Patient", "$everything"), None)
    # No subscriptions and no simulated hospital workflows: nothing needs to react to writes.
    ctx.store.listeners.clear()

    started = time.perf_counter()
    count = load_bundles(ctx.service, [*examples, *(path.resolve() for path in args.load)], examples_dir)
    took = time.perf_counter() - started
    sys.stderr.write(
        f"sandbox loaded {count} resources from {len(examples) + len(args.load)} files in {took:.2f} s\n"
    )

    served: Any = app
    if args.authorization_server:
        served = patient_access_guard(app, args.authorization_server, settings.base_url)
    config = uvicorn.Config(served, host=args.host, port=args.port, log_level="warning", access_log=False)
    server = SandboxServer(config)
    server.ready_line = f"sandbox ready {settings.base_url}"
    server.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
