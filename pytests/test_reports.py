"""Reports: --json, --junit (validated against the JUnit schema CI tools
read, and parsed with a JUnit XML parser), --keep-going, and the HTML
report opened in headless Chromium and checked against the run's trace."""
import json
import os
import pathlib
import re
import shutil

import pytest
from junitparser import Error, Failure, JUnitXml, Skipped
from lxml import etree

from conftest import ROOT, build_dir, run

DATA = pathlib.Path(__file__).parent / "data"
# Screenshots and reports a person may want to look at after a run.
ARTIFACTS = build_dir() / "test-artifacts"

# Fails on some seeds only: a subscriber's PUBLISH discarded now and then,
# and no acknowledgement timeout to recover it.
SOMETIMES = """# a false claim on some seeds: discards without an acknowledgement timeout lose messages
client pub clean=no
client sub clean=no
subscribe sub t qos=1
publish pub t qos=1 count=5
fault sub b2c p=0.1 packet=PUBLISH discard
expect at-least-once
"""
# Skipped in simulation: only a broker that --broker-cmd runs can crash.
SKIPPED = """# a broker crash: skipped without --broker-cmd
client pub clean=no
client sub clean=no
subscribe sub t qos=1
publish pub t qos=1 count=5
crash broker at=5ms
expect at-least-once
"""
LOSING = """# the losing broker, claimed to keep at-least-once: fails on every seed
client pub clean=no window=16
client sub clean=no
subscribe sub t/# qos=1
publish pub t/a qos=1 count=20
rule drop PUBLISH#5 client=sub
expect at-least-once
"""


def mqttsim(*args, check=False, timeout=300, cwd=None):
    return run([str(build_dir() / "bin/mqttsim"), *map(str, args)], check=check, timeout=timeout,
               cwd=cwd)


@pytest.fixture
def files(tmp_path):
    out = {}
    for name, text in (("sometimes", SOMETIMES), ("skipped", SKIPPED), ("losing", LOSING)):
        out[name] = tmp_path / f"{name}.scn"
        out[name].write_text(text)
    return out


def failing_seeds(stdout, path):
    return [int(s) for s in re.findall(rf"^FAIL {re.escape(str(path))} seed (\d+):", stdout, re.M)]


def test_keep_going_reports_every_failing_seed(files, tmp_path):
    f = files["sometimes"]
    once = mqttsim("run", "--seeds", "1..20", "--artifacts", tmp_path / "a", f)
    every = mqttsim("run", "--seeds", "1..20", "--keep-going", "--artifacts", tmp_path / "b", f)
    assert once.returncode == every.returncode == 1
    first = failing_seeds(once.stdout, f)
    seeds = failing_seeds(every.stdout, f)
    assert len(first) == 1 and len(seeds) > 1, every.stdout
    assert seeds[0] == first[0]
    # Exactly the seeds that fail one by one, each with its artifacts.
    alone = [s for s in range(1, 21)
             if mqttsim("run", "--seeds", s, "--artifacts", tmp_path / "c", f).returncode == 1]
    assert seeds == alone
    for s in seeds:
        assert (tmp_path / "b" / f"sometimes.scn-seed{s}.trace").exists()
    assert f"{f}: {len(seeds)} of 20 seeds failed" in every.stdout


def test_json_has_every_scenario_seed_and_failure(files, tmp_path):
    out = tmp_path / "r.json"
    passing = ROOT / "scenarios/qos1-clean.scn"
    p = mqttsim("run", "--seeds", "1..20", "--keep-going", "--json", out, "--artifacts",
                tmp_path / "art", passing, files["sometimes"], files["skipped"])
    assert p.returncode == 1
    doc = json.loads(out.read_text())
    assert doc["schema"] == "mqttsim-results/1"
    assert doc["mode"] == "simulation" and doc["seeds"] == {"first": 1, "last": 20}
    assert (doc["passed"], doc["failed"], doc["skipped"], doc["errors"]) == (1, 1, 1, 0)
    assert "--keep-going" in doc["command"] and doc["duration_s"] >= 0
    by_file = {s["file"]: s for s in doc["scenarios"]}
    assert list(by_file) == [str(passing), str(files["sometimes"]), str(files["skipped"])]
    ok = by_file[str(passing)]
    assert ok["verdict"] == "pass" and ok["seeds"] == {"first": 1, "last": 20, "run": 20}
    assert ok["failures"] == [] and ok["guarantees"] and ok["duration_s"] >= 0
    bad = by_file[str(files["sometimes"])]
    assert bad["verdict"] == "fail" and bad["guarantees"] == ["at-least-once"]
    assert [x["seed"] for x in bad["failures"]] == failing_seeds(p.stdout, files["sometimes"])
    for x in bad["failures"]:
        assert x["guarantee"] == "at-least-once"
        assert "never read" in x["why"]
        assert x["reproduce"] == f"mqttsim run --seeds {x['seed']} --trace {files['sometimes']}"
        assert pathlib.Path(x["trace"]).exists() and pathlib.Path(x["pcap"]).exists()
    skipped = by_file[str(files["skipped"])]
    assert skipped["verdict"] == "skip" and "broker" in skipped["note"]


def test_json_is_the_same_with_jobs(files, tmp_path):
    """Scenarios run in worker processes report the same (but their times)."""
    args = ["--seeds", "1..10", "--keep-going", "--artifacts", tmp_path / "art"]
    scns = [ROOT / "scenarios/qos1-clean.scn", files["sometimes"], files["losing"]]
    mqttsim("run", *args, "--json", tmp_path / "one.json", *scns)
    mqttsim("run", *args, "--jobs", "2", "--json", tmp_path / "two.json", *scns)

    def strip(doc):
        doc = json.loads(doc.read_text())
        for key in ("duration_s", "command"):
            doc.pop(key)
        for s in doc["scenarios"]:
            s.pop("duration_s")
        return doc
    assert strip(tmp_path / "one.json") == strip(tmp_path / "two.json")


def test_junit_validates_and_parses(files, tmp_path):
    out = tmp_path / "r.xml"
    passing = ROOT / "scenarios/qos2-clean.scn"
    p = mqttsim("run", "--seeds", "1..10", "--junit", out, "--artifacts", tmp_path / "art",
                passing, files["losing"], files["skipped"])
    assert p.returncode == 1
    schema = etree.XMLSchema(etree.parse(str(DATA / "junit.xsd")))
    doc = etree.parse(str(out))
    assert schema.validate(doc), schema.error_log
    xml = JUnitXml.fromfile(str(out))
    suites = list(xml)
    assert len(suites) == 1
    suite = suites[0]
    assert (suite.tests, suite.failures, suite.errors, suite.skipped) == (3, 1, 0, 1)
    cases = {c.name: c for c in suite}
    assert set(cases) == {"qos2-clean.scn", "losing.scn", "skipped.scn"}
    assert cases["qos2-clean.scn"].is_passed
    assert cases["qos2-clean.scn"].classname == "mqttsim." + ".".join(passing.parent.parts[1:])
    failure = [r for r in cases["losing.scn"].result if isinstance(r, Failure)]
    assert len(failure) == 1
    msg = failure[0].message
    assert msg.startswith("at-least-once broken with seed 1:")
    assert f"reproduce: mqttsim run --seeds 1 --trace {files['losing']}" in msg
    assert failure[0].type == "at-least-once"
    trace = re.search(r"seed 1 trace: (\S+)", cases["losing.scn"].system_out).group(1)
    assert pathlib.Path(trace).exists()
    assert "sub never read t/a #4" in pathlib.Path(trace).read_text()
    assert any(isinstance(r, Skipped) for r in cases["skipped.scn"].result)
    assert not any(isinstance(r, Error) for c in suite for r in c.result)


def test_junit_escapes_what_xml_cannot_carry(tmp_path):
    """A scenario path with markup and quotes stays well-formed and valid."""
    folder = tmp_path / 'a&b<"c">'
    folder.mkdir()
    f = folder / "x'y.scn"
    f.write_text(LOSING)
    out = tmp_path / "r.xml"
    assert mqttsim("run", "--seeds", "1", "--junit", out, "--artifacts", tmp_path / "art",
                   f).returncode == 1
    schema = etree.XMLSchema(etree.parse(str(DATA / "junit.xsd")))
    assert schema.validate(etree.parse(str(out))), schema.error_log
    case = next(iter(next(iter(JUnitXml.fromfile(str(out))))))
    assert case.name == "x'y.scn"
    assert str(f) in case.result[0].message


@pytest.mark.parametrize("args, message", [
    (["--json", "/nonexistent/r.json"], "--json /nonexistent/r.json: No such file or directory"),
    (["--junit", "{tmp}"], "names a folder, not a file"),
    (["--report", "{tmp}/file"], "--report {tmp}/file: not a folder"),
    (["--report-all"], "--report-all goes with --report DIR"),
])
def test_report_options_that_cannot_be_written_stop_before_the_run(args, message, tmp_path):
    (tmp_path / "file").write_text("")
    before = sorted(tmp_path.iterdir())
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    p = mqttsim("run", *args, "--artifacts", tmp_path / "art", ROOT / "scenarios/qos0-clean.scn")
    assert p.returncode == 2
    assert message.replace("{tmp}", str(tmp_path)) in p.stderr
    assert p.stdout == ""
    assert sorted(tmp_path.iterdir()) == before  # nothing half-written


@pytest.mark.parametrize("command", ["run", "check", "explore", "decode", "replay", "convert"])
def test_every_subcommand_help_exits_0(command):
    p = mqttsim(command, "--help")
    assert p.returncode == 0 and p.stdout.startswith("Usage: mqttsim"), p.stdout + p.stderr
    assert p.stderr == ""


# --- the HTML report, in a browser -------------------------------------------------------

def chart_events(path):
    return [json.loads(line) for line in pathlib.Path(path).read_text().splitlines()]


def expected_from_events(events):
    """What the chart must show, from the run's recorded events: lanes
    (client processes, the network, the broker) and packets (each send,
    and each receipt that matched no send)."""
    procs = {(e["client"], e["inc"]) for e in events if e.get("ev") == "process"}
    sends = {(e["client"], e["conn"], e["dir"], e["off"]) for e in events if e.get("ev") == "send"}
    recvs = [e for e in events if e.get("ev") == "recv"]
    unmatched = sum((e["client"], e["conn"], e["dir"], e["off"]) not in sends for e in recvs)
    return len(procs) + 2, sum(e.get("ev") == "send" for e in events) + unmatched


@pytest.fixture(scope="module")
def browser():
    if not shutil.which("chromedriver") or not shutil.which("chromium"):
        pytest.fail("chromium and chromium-driver are missing: run make deps")
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    opts = Options()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1400,1000"):
        opts.add_argument(arg)
    opts.binary_location = shutil.which("chromium")
    opts.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=opts)
    yield driver
    driver.quit()


def requests_made(driver):
    """Every URL the page asked for since the last call (DevTools' log)."""
    urls = []
    for entry in driver.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg["method"] == "Network.requestWillBeSent":
            urls.append(msg["params"]["request"]["url"])
    return urls


def open_report(driver, index):
    driver.get_log("performance")  # what came before is not this page's
    driver.get(index.as_uri())
    from selenium.webdriver.common.by import By
    return By


def test_report_charts_the_duplicate_where_it_was_caught(browser, tmp_path):
    out = tmp_path / "out"
    p = mqttsim("run", "--report", out, ROOT / "scenarios/caught-duplicating-broker.scn",
                cwd=tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr
    assert f"report: {out}/index.html" in p.stdout
    index = out / "index.html"
    By = open_report(browser, index)
    # Self-contained: the page itself, and nothing else.
    assert requests_made(browser) == [index.as_uri()]
    assert browser.execute_script("return performance.getEntriesByType('resource').length") == 0
    html = index.read_text()
    assert not re.search(r"<script|<link|@import|url\((?!#)|src=", html)
    row = browser.find_element(By.CSS_SELECTOR, "table.scenarios tr.pass")
    assert "caught-duplicating-broker.scn" in row.text and "catches exactly-once" in row.text
    section = browser.find_element(By.CSS_SELECTOR, "section.run")
    assert section.get_attribute("data-seed") == "1"
    assert section.find_element(By.CSS_SELECTOR, "code.reproduce").text == (
        f"mqttsim run --seeds 1 --trace {ROOT}/scenarios/caught-duplicating-broker.scn")
    events_path = out / "runs/caught-duplicating-broker.scn-seed1.chart.jsonl"
    events = chart_events(events_path)
    lanes, packets = expected_from_events(events)
    svg = section.find_element(By.CSS_SELECTOR, "svg.chart")
    assert len(svg.find_elements(By.CSS_SELECTOR, "g.lane")) == lanes == 4  # pub, sub, network, broker
    arrows = svg.find_elements(By.CSS_SELECTOR, "g.arrow")
    stats = svg.find_element(By.CSS_SELECTOR, "text.stats")
    folded = int(stats.get_attribute("data-folded"))
    assert len(arrows) == int(stats.get_attribute("data-arrows"))
    assert len(arrows) + folded == packets
    # The broker's own record (the text trace) agrees with the chart.
    trace = (out / "runs/caught-duplicating-broker.scn-seed1.trace").read_text()
    assert trace.count(" broker <- ") == sum(e.get("ev") == "recv" and e["dir"] == "c2b"
                                             for e in events)
    assert trace.count(" broker -> ") == sum(e.get("ev") == "send" and e["dir"] == "b2c"
                                             for e in events)
    # The duplicate: message #6 reaches sub twice, both arrows red, and the
    # marker sits where the oracle found it, at the second copy.
    v = next(e for e in events if e.get("ev") == "violation" and e["decisive"])
    assert v["guarantee"] == "exactly-once" and (v["step"], v["seq"]) == (1, 6)
    to_sub = [a for a in svg.find_elements(By.CSS_SELECTOR, "g.arrow.subject")
              if a.get_attribute("data-dir") == "b2c"]
    assert len(to_sub) == 2
    marker = svg.find_element(By.CSS_SELECTOR, "g.violation")
    assert marker.get_attribute("data-guarantee") == "exactly-once"
    assert int(marker.get_attribute("data-t")) == v["t"]
    assert marker.get_attribute("data-lane") == "1"  # sub #1
    assert int(marker.get_attribute("data-t")) == max(int(a.get_attribute("data-received"))
                                                      for a in to_sub)
    assert "sub read t/a #6 (QoS 2) 2 times" in marker.get_attribute("innerHTML")
    # Hovering an arrow shows the packet's decoded fields.
    title = to_sub[0].find_element(By.TAG_NAME, "title").get_attribute("textContent")
    assert "PUBLISH" in title and "QoS 2" in title and "topic t/a" in title and "payload" in title
    for name in ("trace", "pcap", "sidecar", "events"):
        href = section.find_element(By.CSS_SELECTOR, f"p.links a.{name}").get_attribute("href")
        assert pathlib.Path(href.replace("file://", "")).exists(), href
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    browser.execute_script("arguments[0].scrollIntoView()", marker)
    assert browser.save_screenshot(str(ARTIFACTS / "report-duplicate.png"))


def test_report_of_a_failure_crosses_out_the_lost_and_marks_the_faults(browser, tmp_path, files):
    """A failing run with drops and a crash: each packet lost on the way
    ends in a cross, the fault, crash and restart marks sit on their lanes,
    and the message never read is marked at the end, on its reader."""
    f = tmp_path / "crashing.scn"
    f.write_text("# a false claim: a losing broker, a reset and a crash keep at-least-once\n"
                 "client pub clean=no\nclient sub clean=no\nsubscribe sub t qos=1\n"
                 "publish pub t qos=1 count=20\n"
                 "fault pub c2b after=PUBLISH#2 reset\n"
                 "crash sub after=b2c:PUBLISH#4 restart=1s\n"
                 "rule drop PUBLISH#18 client=sub\n"
                 "expect at-least-once\n")
    out = tmp_path / "out"
    p = mqttsim("run", "--seeds", "1", "--report", out, "--artifacts", tmp_path / "art", f)
    assert p.returncode == 1, p.stdout + p.stderr
    index = out / "index.html"
    By = open_report(browser, index)
    assert requests_made(browser) == [index.as_uri()]
    events = chart_events(out / "runs/crashing.scn-seed1.chart.jsonl")
    lanes, packets = expected_from_events(events)
    svg = browser.find_element(By.CSS_SELECTOR, "svg.chart")
    assert len(svg.find_elements(By.CSS_SELECTOR, "g.lane")) == lanes
    assert lanes == 5  # pub, sub's two processes, the network, the broker
    stats = svg.find_element(By.CSS_SELECTOR, "text.stats")
    assert len(svg.find_elements(By.CSS_SELECTOR, "g.arrow")) + \
        int(stats.get_attribute("data-folded")) == packets
    sends = {(e["client"], e["conn"], e["dir"], e["off"]) for e in events if e.get("ev") == "send"}
    got = {(e["client"], e["conn"], e["dir"], e["off"]) for e in events if e.get("ev") == "recv"}
    assert len(svg.find_elements(By.CSS_SELECTOR, "g.arrow.lost")) == len(sends - got)
    assert len(svg.find_elements(By.CSS_SELECTOR, "g.arrow.lost path.cross")) == len(sends - got)
    kinds = [m.get_attribute("data-kind") for m in svg.find_elements(By.CSS_SELECTOR, "g.mark")]
    assert kinds.count("crash") == 1 and kinds.count("restart") == 1
    assert kinds.count("fault") == sum(e.get("kind") == "fault" for e in events) >= 1
    assert len(sends - got) >= 1  # the reset lost what was in flight
    marker = svg.find_element(By.CSS_SELECTOR, "g.violation")
    assert marker.get_attribute("data-guarantee") == "at-least-once"
    assert marker.get_attribute("data-at-end") == "true"
    assert marker.get_attribute("data-lane") == str(lanes - 3)  # sub's lane, the last client's
    assert browser.find_element(By.CSS_SELECTOR, "section.run code.reproduce").text == (
        f"mqttsim run --seeds 1 --trace {f}")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(ARTIFACTS / "report-crash.png"))


def test_report_all_charts_passing_runs_and_long_runs_fold(browser, tmp_path):
    """--report-all charts a passing scenario; its keep-alive traffic over
    minutes of idle time folds into rows that say how much they hold."""
    f = tmp_path / "idle.scn"
    f.write_text("# keep-alive traffic for minutes\nclient pub clean=no keepalive=1\n"
                 "client sub clean=no keepalive=1\nsubscribe sub t qos=1\n"
                 "publish pub t qos=1 count=3 at=120s\nexpect at-least-once\n")
    out = tmp_path / "out"
    p = mqttsim("run", "--seeds", "1", "--report", out, "--report-all", f)
    assert p.returncode == 0, p.stdout + p.stderr
    By = open_report(browser, out / "index.html")
    events = chart_events(out / "runs/idle.scn-seed1.chart.jsonl")
    _, packets = expected_from_events(events)
    pings = sum(e.get("type") in ("PINGREQ", "PINGRESP") and e.get("ev") == "send" for e in events)
    assert pings > 100
    svg = browser.find_element(By.CSS_SELECTOR, "svg.chart")
    folds = svg.find_elements(By.CSS_SELECTOR, "g.fold")
    assert folds
    stats = svg.find_element(By.CSS_SELECTOR, "text.stats")
    folded = int(stats.get_attribute("data-folded"))
    assert folded >= pings - 20
    assert len(svg.find_elements(By.CSS_SELECTOR, "g.arrow")) + folded == packets
    assert sum(int(g.get_attribute("data-events")) for g in folds) >= folded
    assert not svg.find_elements(By.CSS_SELECTOR, "g.violation")
    assert browser.find_element(By.CSS_SELECTOR, "section.run").get_attribute("data-verdict") == "pass"


def test_decode_html_charts_a_capture(browser, tmp_path):
    """A capture as a page: a lane per client connection, an arrow per
    packet the decoder finds, the sidecar's notes, nothing fetched."""
    art = tmp_path / "art"
    lose = tmp_path / "losing.scn"
    lose.write_text(LOSING)
    assert mqttsim("run", "--seeds", "2", "--artifacts", art, lose).returncode == 1
    pcap = art / "losing.scn-seed2.pcap"
    page = tmp_path / "capture.html"
    p = mqttsim("decode", "--format", "html", pcap)
    assert p.returncode == 0, p.stderr
    page.write_text(p.stdout)
    packets = mqttsim("decode", "--format", "json", pcap, check=True).stdout.splitlines()
    streams = {json.loads(line)["tcp_stream"] for line in packets}
    By = open_report(browser, page)
    assert requests_made(browser) == [page.as_uri()]
    svg = browser.find_element(By.CSS_SELECTOR, "svg.chart")
    assert len(svg.find_elements(By.CSS_SELECTOR, "g.lane")) == len(streams) + 2
    names = [g.get_attribute("data-name") for g in svg.find_elements(By.CSS_SELECTOR, "g.lane")]
    assert sorted(names[:2]) == ["pub #1", "sub #1"] and names[2:] == ["network", "broker"]
    stats = svg.find_element(By.CSS_SELECTOR, "text.stats")
    arrows = svg.find_elements(By.CSS_SELECTOR, "g.arrow")
    assert len(arrows) + int(stats.get_attribute("data-folded")) == len(packets)
    assert not svg.find_elements(By.CSS_SELECTOR, "g.arrow.lost")
    notes = [n.text for n in svg.find_elements(By.CSS_SELECTOR, "g.mark.note")]
    assert any("workload starts" in n for n in notes)


def test_decode_html_of_a_bad_capture_says_so(tmp_path):
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(b"\xd4\xc3\xb2\xa1 not a capture")
    p = mqttsim("decode", "--format", "html", bad)
    assert p.returncode == 2 and p.stdout == ""
    assert p.stderr.startswith("mqttsim: ") and "bad.pcap" in p.stderr
    p = mqttsim("decode", "--format", "pdf", bad)
    assert p.returncode == 2 and "text, tsv, json or html" in p.stderr


def test_explore_report_charts_each_distinct_failure(tmp_path):
    out = tmp_path / "rep"
    p = mqttsim("explore", "--seeds", "1..120", "--jobs", "2", "--rule", "drop PUBLISH#3 count=1",
                "--artifacts", tmp_path / "found", "--report", out, "-q", "--json")
    assert p.returncode == 1, p.stderr
    doc = json.loads(p.stdout)
    assert doc["failures"]
    html = (out / "index.html").read_text()
    sections = re.findall(r'<section class="run" id="run-\d+" data-scenario="([^"]+)" '
                          r'data-seed="(\d+)" data-verdict="fail">', html)
    assert sorted(sections) == sorted((f["file"], str(f["seed"])) for f in doc["failures"])
    assert html.count('class="violation"') == len(doc["failures"])
    assert f"explore: {doc['runs']} runs, {doc['failed_seeds']} failed seeds, " \
           f"{len(doc['failures'])} distinct failure" in html
    for f in doc["failures"]:
        assert f"mqttsim run --seeds {f['seed']} --trace {f['file']}" in html
    bad = mqttsim("explore", "--seeds", "1..5", "--report", "/proc/nope", "-q")
    assert bad.returncode == 2 and "--report /proc/nope: cannot write there" in bad.stderr


# --- conformance coverage ---------------------------------------------------------------

STATEMENTS = ROOT / "scenarios/conformance/mqtt-3.1.1.tsv"


def statement_ids():
    return [line.split("\t")[0] for line in STATEMENTS.read_text().splitlines()
            if line.startswith("MQTT-")]


def test_coverage_of_the_library_lists_every_statement(tmp_path):
    p = mqttsim("coverage", "--seeds", "1..3", "--json", tmp_path / "r.json", cwd=ROOT)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr
    lines = p.stdout.splitlines()
    table = [line for line in lines if line.startswith("MQTT-")]
    ids = statement_ids()
    assert [line.split()[0] for line in table] == ids and len(ids) == 137
    status = {line.split()[0]: line.split()[2] for line in table}
    # Every statement that applies is exercised, or the table says why not.
    reasons = {line.split("\t")[0]: line.split("\t")[3] for line in STATEMENTS.read_text().splitlines()
               if line.startswith("MQTT-") and line.count("\t") == 3}
    for sid, word in status.items():
        assert word in ("exercised", "not", "n/a"), (sid, word)
        if word != "exercised":
            assert sid in reasons, f"{sid} is {word} and the table gives no reason"
    m = re.search(r"^coverage: (\d+) of (\d+) applicable statements exercised", p.stdout, re.M)
    exercised, applicable = int(m.group(1)), int(m.group(2))
    assert applicable == 133 and exercised == sum(w == "exercised" for w in status.values())
    assert exercised >= 125
    assert lines[-1] == f"{len(list((ROOT / 'scenarios').glob('*.scn')))} passed, 0 failed"
    # The JSON has each scenario's statements; together they are the exercised ones.
    doc = json.loads((tmp_path / "r.json").read_text())
    reached = set()
    for s in doc["scenarios"]:
        reached |= set(s["statements"])
    assert reached == {sid for sid, w in status.items() if w == "exercised"}
    assert doc["coverage"]["exercised"] == exercised
    # The README states today's count.
    assert f"{exercised} of {applicable}" in (ROOT / "README.md").read_text()


def test_coverage_names_the_scenarios_that_exercise_a_statement(tmp_path):
    p = mqttsim("coverage", "--seeds", "1..2", ROOT / "scenarios/dollar-topics.scn",
                ROOT / "scenarios/qos0-clean.scn")
    assert p.returncode == 0, p.stderr
    row = {line.split()[0]: line for line in p.stdout.splitlines() if line.startswith("MQTT-")}
    assert "exercised     by 1 scenario: dollar-topics.scn" in row["MQTT-4.7.2-1"]
    assert "by 2 scenarios: dollar-topics.scn, qos0-clean.scn" in row["MQTT-3.1.0-1"]
    assert " not exercised " in row["MQTT-3.3.1-10"]  # no retained clear in either
    assert row["MQTT-6.0.0-1"].split()[2] == "n/a"
    bad = mqttsim("coverage", "--frobnicate")
    assert bad.returncode == 2 and "unknown option --frobnicate" in bad.stderr
    elsewhere = mqttsim("coverage", cwd=tmp_path)
    assert elsewhere.returncode == 2 and "no scenarios/*.scn here" in elsewhere.stderr
    assert mqttsim("coverage", "--help").returncode == 0


def test_report_has_the_coverage_table(browser, tmp_path):
    out = tmp_path / "out"
    p = mqttsim("coverage", "--seeds", "1", "--report", out, ROOT / "scenarios/retained-cleared.scn",
                ROOT / "scenarios/qos2-clean.scn")
    assert p.returncode == 0, p.stderr
    By = open_report(browser, out / "index.html")
    section = browser.find_element(By.CSS_SELECTOR, "section.coverage")
    rows = section.find_elements(By.CSS_SELECTOR, "table.coverage tr[data-id]")
    assert [r.get_attribute("data-id") for r in rows] == statement_ids()
    clear = section.find_element(By.CSS_SELECTOR, 'tr[data-id="MQTT-3.3.1-10"]')
    assert clear.get_attribute("class") == "exercised" and "retained-cleared.scn" in clear.text
    m = re.search(r"^coverage: (\d+) of", p.stdout, re.M)
    assert section.get_attribute("data-exercised") == m.group(1)
