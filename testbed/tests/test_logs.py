"""CloudWatch Logs reads (testbed/logs_ext.py): FilterLogEvents and GetLogEvents page by page
give what moto's whole-group scan gives. The expected answers are computed here from the events
put, with moto's rules: a stream's events sorted by timestamp (ties in the order put), streams
interleaved by timestamp (ties in stream creation order), startTime/endTime inclusive and 0 meaning
no bound, terms matched as substrings."""
import time

import boto3
import pytest
from botocore.exceptions import ClientError

from testbed.tests.conftest import ENDPOINT, ENV

GROUP = "/tb/logs"
STREAMS = ["app/web/1", "app/web/2", "app/worker/1", "other/cron/1"]
WORDS = ["ERROR disk full", "INFO ok", "WARN slow", "ERROR timeout", "INFO disk fine"]


@pytest.fixture
def logs():
    return boto3.client("logs", endpoint_url=ENDPOINT, region_name=ENV["AWS_REGION"],
                        aws_access_key_id="testing", aws_secret_access_key="testing")


@pytest.fixture
def dataset(logs):
    """~1,200 events in 4 streams, with equal timestamps across and within streams, and a second
    batch per stream that goes back in time (PutLogEvents only orders events within one call)."""
    base = int(time.time() * 1000) - 3_600_000
    logs.create_log_group(logGroupName=GROUP)
    put = {s: [] for s in STREAMS}
    for n, s in enumerate(STREAMS):
        logs.create_log_stream(logGroupName=GROUP, logStreamName=s)
        for batch in range(3):
            # batch 1 lies before batch 0: the stream is appended out of time order
            offset = {0: 1000, 1: 0, 2: 2000}[batch]
            events = [{"timestamp": base + offset + (i // 3) * 7 + (n % 2),
                       "message": f"{WORDS[(i + n + batch) % len(WORDS)]} s{n} b{batch} i{i}"}
                      for i in range(100)]
            logs.put_log_events(logGroupName=GROUP, logStreamName=s, logEvents=events)
            put[s] += events
    return base, put


def expected(put, streams=None, prefix=None, start=None, end=None, terms=None, phrase=None):
    chosen = [s for s in STREAMS if (s in streams if streams else s.startswith(prefix or ""))]
    out = []
    for s in chosen:
        for e in sorted(put[s], key=lambda e: e["timestamp"]):
            if start and e["timestamp"] < start or end and e["timestamp"] > end:
                continue
            if terms and not all(t in e["message"] for t in terms):
                continue
            if phrase and phrase not in e["message"]:
                continue
            out.append((s, e["timestamp"], e["message"]))
    return sorted(out, key=lambda x: x[1]), chosen


def filter_all(logs, limit, **kw):
    """Every page of FilterLogEvents; returns (events, page sizes, searchedLogStreams of page 1)."""
    events, sizes, token, searched = [], [], None, None
    ids = set()
    while True:
        page = logs.filter_log_events(logGroupName=GROUP, limit=limit, **kw,
                                      **({"nextToken": token} if token else {}))
        if searched is None:
            searched = page["searchedLogStreams"]
        sizes.append(len(page["events"]))
        for e in page["events"]:
            assert set(e) == {"logStreamName", "timestamp", "message", "ingestionTime", "eventId"}
            ids.add(e["eventId"])
            events.append((e["logStreamName"], e["timestamp"], e["message"]))
        token = page.get("nextToken")
        if not token:
            break
        assert token.startswith(GROUP + "@")
    assert len(ids) == len(events)
    return events, sizes, searched


@pytest.mark.parametrize("case", [
    {},
    {"filterPattern": "ERROR", "terms": ["ERROR"]},
    {"filterPattern": "ERROR disk", "terms": ["ERROR", "disk"]},
    {"filterPattern": '"disk fine"', "phrase": "disk fine"},
    {"window": (1000, 1500)},
    {"window": (1000, 0)},
    {"window": (0, 1200), "filterPattern": "INFO", "terms": ["INFO"]},
    {"logStreamNames": ["app/worker/1", "app/web/1"]},
    {"logStreamNamePrefix": "app/web/"},
    {"logStreamNamePrefix": "app/", "filterPattern": "WARN", "terms": ["WARN"], "window": (500, 2100)},
], ids=lambda c: ",".join(sorted(c)) or "all")
@pytest.mark.parametrize("limit", [7, 10000])
def test_filter_log_events_pages_match_moto_semantics(logs, dataset, case, limit):
    base, put = dataset
    kw = {k: case[k] for k in ("filterPattern", "logStreamNames", "logStreamNamePrefix") if k in case}
    start = end = None
    if "window" in case:
        start, end = (base + t if t else 0 for t in case["window"])
        kw.update(startTime=start, endTime=end)
    want, chosen = expected(put, streams=case.get("logStreamNames"), prefix=case.get("logStreamNamePrefix"),
                            start=start, end=end, terms=case.get("terms"), phrase=case.get("phrase"))
    assert want, "the case selects something"
    got, sizes, searched = filter_all(logs, limit, **kw)
    assert got == want
    assert all(n == limit for n in sizes[:-1]) and 0 < sizes[-1] <= limit
    assert searched == [{"logStreamName": s, "searchedCompletely": True} for s in chosen]


def test_filter_log_events_tokens_limits_and_appends(logs, dataset):
    base, put = dataset
    # an unknown or foreign token gives an empty page, as moto (and AWS) do
    for bad in ["nonsense", f"{GROUP}@app/web/1@999999999", f"/other@app/web/1@1"]:
        page = logs.filter_log_events(logGroupName=GROUP, nextToken=bad)
        assert page["events"] == [] and "nextToken" not in page
    # a token whose event the new filter excludes is unknown too
    first = logs.filter_log_events(logGroupName=GROUP, limit=1)
    assert "ERROR" not in first["events"][0]["message"]
    assert logs.filter_log_events(logGroupName=GROUP, filterPattern="ERROR",
                                  nextToken=first["nextToken"])["events"] == []
    with pytest.raises(ClientError) as e:
        logs.filter_log_events(logGroupName=GROUP, limit=10001)
    assert e.value.response["Error"]["Code"] == "InvalidParameterException"
    # events put between pages (one of them earlier than everything) are seen by the next read
    page = logs.filter_log_events(logGroupName=GROUP, limit=50)
    late = [{"timestamp": base - 5, "message": "late"}]
    logs.put_log_events(logGroupName=GROUP, logStreamName="app/web/2", logEvents=late)
    put["app/web/2"] += late
    got, _, _ = filter_all(logs, 333)
    assert got == expected(put)[0] and got[0] == ("app/web/2", base - 5, "late")
    rest = logs.filter_log_events(logGroupName=GROUP, nextToken=page["nextToken"])["events"]
    assert [(e["logStreamName"], e["timestamp"], e["message"]) for e in rest] == got[51:]


def test_filter_log_events_with_the_cli(dataset):
    """The AWS CLI pages (--page-size) through the whole group in time order."""
    from testbed.tests.conftest import aws
    base, put = dataset
    out = aws("logs", "filter-log-events", "--log-group-name", GROUP, "--log-stream-name-prefix", "app/",
              "--page-size", "100")
    assert [(e["logStreamName"], e["timestamp"], e["message"]) for e in out["events"]] == \
        expected(put, prefix="app/")[0]


@pytest.mark.parametrize("window", [None, (1000, 1500), (1500, 0)])
def test_get_log_events_pages_both_ways(logs, dataset, window):
    base, put = dataset
    kw = {}
    start = end = None
    if window:
        start, end = (base + t if t else 0 for t in window)
        kw = {"startTime": start, "endTime": end}
    want = [(ts, m) for _, ts, m in expected(put, streams=["app/worker/1"], start=start, end=end)[0]]

    def page(**more):
        p = logs.get_log_events(logGroupName=GROUP, logStreamName="app/worker/1", limit=9, **kw, **more)
        return [(e["timestamp"], e["message"]) for e in p["events"]], p

    # forward from the head until the forward token stops moving (what clients do)
    got, p = page(startFromHead=True)
    assert p["nextBackwardToken"] == f"b/{0:056d}" and p["nextForwardToken"] == f"f/{8:056d}"
    while True:
        events, q = page(nextToken=p["nextForwardToken"])
        if not events:
            assert q["nextForwardToken"] == f"f/{len(want) - 1:056d}"
            break
        got += events
        p = q
    assert got == want
    # backward from the tail
    got, p = page()
    while True:
        events, p = page(nextToken=p["nextBackwardToken"])
        if not events:
            break
        got = events + got
    assert got == want
    with pytest.raises(ClientError) as e:
        logs.get_log_events(logGroupName=GROUP, logStreamName="app/worker/1", nextToken="bad")
    assert e.value.response["Error"]["Code"] == "InvalidParameterException"


def test_same_answers_as_unpatched_moto():
    """In process, on random data: the patched methods answer exactly what moto's own give (with
    interleaved=True, and the prefix spelled as logStreamNames, which moto ignores otherwise), and
    the answers written from the events' stored JSON are byte for byte json.dumps of those."""
    import json
    import random
    from moto.logs import models as m
    from testbed import logs_ext
    orig = (m.LogGroup.filter_log_events, m.LogStream.filter_log_events, m.LogStream.get_log_events)
    put = m.LogStream.put_log_events
    logs_ext.install()
    try:
        backend = m.LogsBackend("us-east-1", "123456789012")
        rnd = random.Random(7)
        for trial in range(25):
            backend.create_log_group(f"g{trial}", {})
            group = backend.groups[f"g{trial}"]
            names = sorted({f"s/{rnd.choice('ab')}/{i}" for i in range(rnd.randint(1, 5))})
            for name in names:
                group.create_log_stream(name)
            for _ in range(rnd.randint(1, 8)):  # batches at random times: appends go back in time
                at = 1000 + rnd.randint(0, 50)
                group.put_log_events(rnd.choice(names), sorted(
                    ({"timestamp": at + rnd.randint(0, 30), "message": " ".join(rnd.sample(WORDS, 2)) + rnd.choice(["", ' "q" \u00fc\t\\'])}
                     for _ in range(rnd.randint(0, 12))), key=lambda e: e["timestamp"]))
                group.filter_log_events(group.name, [], None, None, None, None, None, False)
            for _ in range(30):
                start, end = rnd.choice([None, 0, 1010, 1030]), rnd.choice([None, 0, 1020, 1100])
                pattern, limit = rnd.choice([None, "ERROR", "INFO disk", '"disk f"']), rnd.choice([None, 1, 3, 50])
                chosen, prefix = rnd.choice([([], None), ([], "s/a/"), (names[:2], None)])
                as_names = chosen or [n for n in names if n.startswith(prefix or "")]
                if not as_names:  # moto reads an empty logStreamNames as "all streams"
                    continue
                token = None
                while True:
                    got = group.filter_log_events(group.name, chosen, start, end, limit, token, pattern, False, prefix)
                    assert got == orig[0](group, group.name, as_names, start, end, limit, token, pattern, True)
                    keys = ("events", "nextToken", "searchedLogStreams")
                    text = logs_ext._answer_json(lambda: group.filter_log_events(
                        group.name, chosen, start, end, limit, token, pattern, False, prefix), keys)
                    assert text == json.dumps(dict(zip(keys, got)))
                    token = got[1]
                    if not token:
                        break
                for stream in group.streams.values():
                    assert stream.filter_log_events(start, end, pattern) == orig[1](stream, start, end, pattern)
                    token = rnd.choice([None, f"f/{rnd.randint(-2, 9):056d}", f"b/{rnd.randint(-2, 9):056d}"])
                    head = rnd.random() < .5
                    for _ in range(5):
                        got = stream.get_log_events(start, end, limit, token, head)
                        assert got == orig[2](stream, start, end, limit, token, head)
                        keys = ("events", "nextBackwardToken", "nextForwardToken")
                        text = logs_ext._answer_json(
                            lambda: stream.get_log_events(start, end, limit, token, head), keys)
                        assert text == json.dumps(dict(zip(keys, got)))
                        token = got[rnd.choice([1, 2])]
    finally:
        m.LogGroup.filter_log_events, m.LogStream.filter_log_events, m.LogStream.get_log_events = orig
        m.LogStream.put_log_events = put
