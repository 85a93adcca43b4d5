"""`make run` from a clean clone: sets itself up, serves the portal with a real worker, stops on Ctrl-C."""

import os
import re
import signal
import socket
import subprocess
from pathlib import Path

import requests

from tests.conftest import REPO, start_process, wait_for


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def port_open(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_make_run_from_a_clean_clone(tmp_path: Path) -> None:
    clone = tmp_path / "portal"
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(clone)], check=True, timeout=120)
    port = free_port()
    # A bare laptop: no database or broker configured, nothing but the clone.
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "DEBUG", "VIRTUAL_ENV", "VAR_DIR"}
        and not key.startswith("PYTEST")
    }
    env["PORT"] = str(port)
    sandbox_port = free_port()
    env["FHIR_SANDBOX_URL"] = f"http://127.0.0.1:{sandbox_port}/fhir"
    eid_port = free_port()
    eid_url = f"http://127.0.0.1:{eid_port}"
    env["EID_SANDBOX_URL"] = eid_url
    smart_port, auth_port = free_port(), free_port()
    smart_url, auth_url = f"http://127.0.0.1:{smart_port}/fhir", f"http://127.0.0.1:{auth_port}"
    env["SMART_FHIR_SANDBOX_URL"] = smart_url
    env["SMART_AUTH_SANDBOX_URL"] = auth_url
    three_ports = {source: free_port() for source in ("HOSPITAL", "GP", "REGISTER")}
    for source, source_port in three_ports.items():
        env[f"{source}_SANDBOX_URL"] = f"http://127.0.0.1:{source_port}/fhir"
    portal = start_process(["make", "run"], env=env, log_path=tmp_path / "make-run.log", cwd=clone)
    base = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        if portal.process.poll() is not None:
            raise AssertionError(f"make run exited early:\n{portal.log()}")
        try:
            return requests.get(f"{base}/healthz", timeout=5).status_code == 200
        except requests.RequestException:  # not listening yet, or still starting its workers
            return False

    try:
        wait_for(healthy, timeout=400, what="make run to serve /healthz", interval=1)
        assert requests.get(f"{base}/healthz", timeout=5).json() == {"db": "ok", "broker": "ok"}
        assert f"Yellow Button portal: {base}/" in portal.log()
        assert "demo@example.com / yellow-button-demo" in portal.log()
        assert f"eID sandbox:          {eid_url} (sign in as Patricia Jordana: no password)" in portal.log()
        discovery = requests.get(f"{eid_url}/.well-known/openid-configuration", timeout=10)
        assert discovery.status_code == 200
        assert discovery.json()["issuer"] == eid_url

        # The demo citizen signs in through the real login form.
        browser = requests.Session()
        login_page = browser.get(f"{base}/accounts/login/", timeout=10)
        assert login_page.status_code == 200
        assert "Sign in with national eID" in login_page.text  # the eID sandbox is configured as the eID
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login_page.text)
        assert token is not None
        signed_in = browser.post(
            f"{base}/accounts/login/",
            data={
                "login": "demo@example.com",
                "password": "yellow-button-demo",
                "csrfmiddlewaretoken": token[1],
            },
            headers={"Referer": f"{base}/accounts/login/"},
            timeout=10,
        )
        assert "Signed in as demo@example.com" in signed_in.text

        # The worker that make run started picks up jobs.
        check = subprocess.run(
            [str(clone / ".venv/bin/python"), "manage.py", "worker_check", "--wait", "60"],
            cwd=clone, env={**env, "DEBUG": "1"}, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert check.returncode == 0, check.stderr
        assert "succeeded" in check.stdout

        # The demo path: fetch the demo citizen's record from the sandbox make run started.
        records = browser.get(f"{base}/records/", timeout=10)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', records.text)
        assert token is not None
        started = browser.post(
            f"{base}/records/pull/",
            data={"csrfmiddlewaretoken": token[1]},
            headers={"Referer": f"{base}/records/"},
            allow_redirects=False,
            timeout=10,
        )
        assert started.status_code == 302, started.text[:2000]
        job_url = f"{base}{started.headers['Location']}"

        def pulled() -> bool:
            answer = browser.get(job_url, headers={"Accept": "application/json"}, timeout=10).json()
            return answer["status"] in ("succeeded", "failed")

        wait_for(pulled, timeout=120, what="the demo pull", interval=1)
        answer = browser.get(job_url, headers={"Accept": "application/json"}, timeout=10).json()
        assert answer["status"] == "succeeded", (answer, portal.log()[-4000:])

        # The hospital, the GP and the register were pulled at the same time, and merged with the national
        # endpoint into one record: every fact once, the lisinopril conflict shown.
        names = ("Someplace General Hospital", "NorthCare Pukete Road-Thomas Road", "Vaccination register")
        for name in names:
            assert f"  {name}" in portal.log()

        def merged() -> bool:
            status = browser.get(f"{base}/records/status/", timeout=10).json()
            return not status["busy"] and len(status["sources"]) == 5

        wait_for(merged, timeout=120, what="the four sources pulled and merged", interval=1)
        page = browser.get(f"{base}/records/", timeout=10).text
        assert page.count('data-testid="source-held"') == 4  # the SMART launch source is not connected
        assert page.count('data-testid="item-conflict"') == 1
        assert "enicillin" in page
        assert "ypertension" in page
        # The example's one allergy, once: the national endpoint's and the hospital's copy are one fact.
        allergies = page.split('data-section="allergies"')[1].split("</section>")[0]
        assert allergies.count('data-testid="record-item"') == 1, allergies
        provenance = allergies.split('data-testid="item-sources">')[1].split("</span>")[0]
        assert "Sandbox national endpoint" in provenance
        assert "Someplace General Hospital" in provenance

        # The SMART launch source: its sandbox names the authorization server make run started, and Connect
        # sends the citizen there to sign in (the portal trusts that server's origin).
        assert f"SMART launch source:  {smart_url}, sign-in at {auth_url}" in portal.log()
        configuration = requests.get(f"{smart_url}/.well-known/smart-configuration", timeout=10).json()
        assert configuration["authorization_endpoint"].startswith(f"{auth_url}/")
        connect = re.search(r'action="(/records/connect/\d+/)"', page)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        assert connect is not None, page[:2000]
        assert token is not None
        launched = browser.post(
            f"{base}{connect[1]}",
            data={"csrfmiddlewaretoken": token[1]},
            headers={"Referer": f"{base}/records/"},
            allow_redirects=False,
            timeout=10,
        )
        assert launched.status_code == 302, launched.text[:2000]
        assert launched.headers["Location"].startswith(configuration["authorization_endpoint"] + "?")
        sign_in = requests.get(launched.headers["Location"], timeout=10)
        assert "Patricia Jordana" in sign_in.text
    finally:
        # Ctrl-C reaches the whole foreground process group.
        if portal.process.poll() is None:
            os.killpg(portal.process.pid, signal.SIGINT)
        try:
            portal.process.wait(timeout=60)
        finally:
            portal.stop()

    wait_for(lambda: not port_open(port), timeout=30, what="the web server to stop")
    wait_for(lambda: not port_open(sandbox_port), timeout=30, what="the FHIR sandbox to stop")
    wait_for(lambda: not port_open(eid_port), timeout=30, what="the eID sandbox to stop")
    wait_for(lambda: not port_open(smart_port), timeout=30, what="the SMART launch FHIR sandbox to stop")
    wait_for(lambda: not port_open(auth_port), timeout=30, what="the SMART authorization server to stop")
    for source, source_port in three_ports.items():
        stopped = (lambda port: lambda: not port_open(port))(source_port)
        wait_for(stopped, timeout=30, what=f"the {source} sandbox to stop")
    try:
        os.killpg(portal.process.pid, 0)
        leftovers = True
    except ProcessLookupError:
        leftovers = False
    assert not leftovers, f"processes of make run survived Ctrl-C:\n{portal.log()}"
