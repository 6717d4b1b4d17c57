"""CloudWatch Logs reads that cost what one page costs.

moto 5.2.1 answers every FilterLogEvents call by filtering, sorting and converting to dicts every
event of every stream of the group (building an EventMessageFilter per event), then finding
nextToken by a linear scan; GetLogEvents sorts the whole stream per call. Reading 100,000 lines
then costs ~0.5 s of server time per page, which made the test bed, not the client, the bottleneck
of `bench/logs.sh`.

Here each stream keeps an index of its events sorted by timestamp (stable: ties stay in the order
they were put, as moto's `sorted` leaves them), extended when events are appended in order and
rebuilt only when an append goes back in time. A call then bisects the time window, resumes at the
token's position, and merges the streams one page deep. The answers are moto's: same shapes, same
tokens (`group@stream@eventId`, `f/…`/`b/…` indexes), same quirks (startTime/endTime 0 means no
bound, an unknown FilterLogEvents token gives an empty page, limit 0 means 10,000). Two AWS
behaviours moto lacks are added: FilterLogEvents always interleaves streams by time (AWS ignores
`interleaved` since 2019; moto concatenated streams unless it was true) and honours
`logStreamNamePrefix` (moto ignored it and searched every stream).

Answers are also written the way a service would keep them: each event's JSON is made once, when
it is indexed (right after PutLogEvents), and a page's body is those texts joined. The bytes are
exactly what `json.dumps` of moto's dicts gives (the tests compare them), but a 10,000-event page
no longer costs ~45 ms of dict building and encoding per call, whoever reads it (wharf, or the
AWS CLI in `bench/logs.sh`).
"""
import heapq
import json
import threading
from bisect import bisect_left, bisect_right

from moto.logs import models as logs_models
from moto.logs.exceptions import InvalidParameterException, ResourceNotFoundException
from moto.logs.responses import LogsResponse
from moto.logs.utils import EventMessageFilter


class _Index:
    """A stream's events sorted by timestamp, with their timestamps (for bisect) and where each
    event id sits (to resume after a FilterLogEvents token)."""

    def __init__(self, stream_name):
        self.stream_name = stream_name
        self.source, self.seen = None, 0
        self.events, self.stamps, self.pos = [], [], {}
        # Per event, its JSON in GetLogEvents' and in FilterLogEvents' shape (see the module doc).
        self.get_json, self.filter_json = [], []

    def refresh(self, events):
        if events is not self.source or len(events) < self.seen:
            self.source, self.seen = events, 0
            self.events, self.stamps, self.pos = [], [], {}
            self.get_json, self.filter_json = [], []
        new = events[self.seen:]
        if not new:
            return self
        if self.stamps and new[0].timestamp < self.stamps[-1] or \
                any(a.timestamp > b.timestamp for a, b in zip(new, new[1:])):
            # An append went back in time: sort again (stable, like moto's per-call sort).
            self.events = sorted(events, key=lambda e: e.timestamp)
            self.stamps = [e.timestamp for e in self.events]
            self.pos = {}
            self.get_json, self.filter_json = [], []
            start = 0
        else:
            start = len(self.events)
            self.events.extend(new)
            self.stamps.extend(e.timestamp for e in new)
        dumps, name = json.dumps, self.stream_name
        for i in range(start, len(self.events)):
            e = self.events[i]
            self.pos[str(e.event_id)] = i
            self.get_json.append(dumps(e.to_response_dict()))
            self.filter_json.append(dumps(_filter_dict(name, e)))
        self.seen = len(events)
        return self

    def window(self, start_time, end_time):
        """[lo, hi) of the events moto's filter keeps; a 0/None bound is no bound, as in moto."""
        lo = bisect_left(self.stamps, start_time) if start_time else 0
        hi = bisect_right(self.stamps, end_time) if end_time else len(self.stamps)
        return lo, max(lo, hi)


def _index(stream):
    idx = stream.__dict__.get("_testbed_index")
    if idx is None:
        idx = stream._testbed_index = _Index(stream.log_stream_name)
    return idx.refresh(stream.events)


# Set by the response handlers below while they call the backend: the page comes back as JSON
# texts (a _Json list) instead of dicts. Other callers get moto's dicts.
_as_json = threading.local()


class _Json(list):
    """Events already written as JSON."""


def _wants_json():
    return getattr(_as_json, "on", False)


def _answer_json(call, keys):
    """Runs `call` (a backend read) with pages as JSON texts, and writes its answer as
    `json.dumps` would write {keys[0]: events, keys[1]: ..., ...}."""
    _as_json.on = True
    try:
        result = call()
    finally:
        _as_json.on = False
    parts = []
    for key, value in zip(keys, result):
        text = "[" + ", ".join(value) + "]" if isinstance(value, _Json) else json.dumps(value)
        parts.append(json.dumps(key) + ": " + text)
    return "{" + ", ".join(parts) + "}"


def _filter_dict(stream_name, event):
    d = event.to_filter_dict()
    d["logStreamName"] = stream_name
    return d


def stream_filter_log_events(self, start_time, end_time, filter_pattern):
    """LogStream.filter_log_events: the whole (filtered) stream, as moto gives it; kept for
    callers other than LogGroup.filter_log_events, with the filter built once."""
    idx = _index(self)
    lo, hi = idx.window(start_time, end_time)
    match = EventMessageFilter(filter_pattern).matches
    return [_filter_dict(self.log_stream_name, e) for e in idx.events[lo:hi] if match(e.message)]


def group_filter_log_events(self, log_group_name, log_stream_names, start_time, end_time, limit,
                            next_token, filter_pattern, interleaved, log_stream_name_prefix=None):
    if not limit:
        limit = 10000
    if limit < 0:  # botocore refuses it; moto would slice with it, here it is an empty page
        limit = 0
    streams = [s for name, s in self.streams.items()
               if (name in log_stream_names if log_stream_names
                   else name.startswith(log_stream_name_prefix or ""))]
    searched = [{"logStreamName": s.log_stream_name, "searchedCompletely": True} for s in streams]
    match = EventMessageFilter(filter_pattern).matches
    windows = []  # per stream, in moto's order: (index, first position, end)
    for s in streams:
        idx = _index(s)
        windows.append((idx,) + idx.window(start_time, end_time))

    if next_token:
        # moto resumes after the token's event in the filtered, sorted list, and gives an empty
        # page when the token names no event of that list. The merged order is
        # (timestamp, stream's place, place in stream), so each stream resumes by bisect.
        try:
            group, stream_name, event_id = next_token.split("@")
        except ValueError:
            return [], None, searched
        rank = next((r for r, s in enumerate(streams) if s.log_stream_name == stream_name), None)
        if group != log_group_name or rank is None:
            return [], None, searched
        idx, lo, hi = windows[rank]
        p = idx.pos.get(event_id)
        if p is None or not lo <= p < hi or not match(idx.events[p].message):
            return [], None, searched
        t = idx.events[p].timestamp
        windows = [(ix, max(l, p + 1 if r == rank else
                            (bisect_right if r < rank else bisect_left)(ix.stamps, t, l, h)), h)
                   for r, (ix, l, h) in enumerate(windows)]

    # Merge the streams one page deep (plus one event, to know whether there is a next page).
    heap = [(ix.stamps[l], r, l) for r, (ix, l, h) in enumerate(windows) if l < h]
    heapq.heapify(heap)
    page = []
    while heap and len(page) <= limit:
        _, r, i = heap[0]
        ix, _, h = windows[r]
        if i + 1 < h:
            heapq.heapreplace(heap, (ix.stamps[i + 1], r, i + 1))
        else:
            heapq.heappop(heap)
        if match(ix.events[i].message):
            page.append((streams[r], ix, i))
    more = len(page) > limit
    page = page[:limit]
    if _wants_json():
        events = _Json(ix.filter_json[i] for _, ix, i in page)
    else:
        events = [_filter_dict(s.log_stream_name, ix.events[i]) for s, ix, i in page]
    token = None
    if page and more:
        s, ix, i = page[-1]
        token = f"{log_group_name}@{s.log_stream_name}@{ix.events[i].event_id}"
    return events, token, searched


def stream_get_log_events(self, start_time, end_time, limit, next_token, start_from_head):
    """moto's LogStream.get_log_events, index arithmetic unchanged, over the stream's time window
    of the sorted index instead of a list sorted on every call."""
    if limit is None:
        limit = 10000
    idx = _index(self)
    lo, hi = idx.window(start_time, end_time)

    direction, index = None, 0
    if next_token is not None:
        try:
            direction, index = next_token[0], int(next_token[2:])
        except Exception:
            raise InvalidParameterException("The specified nextToken is invalid.")

    limit_index = limit - 1
    final_index = hi - lo - 1
    if direction is None:
        if start_from_head:
            start_index = 0
            end_index = start_index + limit_index
        else:
            end_index = final_index
            start_index = end_index - limit_index
    elif direction == "f":
        start_index = index + 1
        end_index = start_index + limit_index
    elif direction == "b":
        end_index = index - 1
        start_index = end_index - limit_index
    else:
        raise InvalidParameterException("The specified nextToken is invalid.")

    if start_index < 0:
        start_index = 0
    elif start_index > final_index:
        return ([], f"b/{final_index:056d}", f"f/{final_index:056d}")
    if end_index > final_index:
        end_index = final_index
    elif end_index < 0:
        return ([], f"b/{0:056d}", f"f/{0:056d}")

    a, b = lo + start_index, lo + max(start_index, end_index + 1)
    if _wants_json():
        events = _Json(idx.get_json[a:b])
    else:
        events = [e.to_response_dict() for e in idx.events[a:b]]
    return (events, f"b/{start_index:056d}", f"f/{end_index:056d}")


def install():
    logs_models.LogStream.filter_log_events = stream_filter_log_events
    logs_models.LogStream.get_log_events = stream_get_log_events
    logs_models.LogGroup.filter_log_events = group_filter_log_events

    def backend_filter_log_events(self, log_group_name, log_stream_names, start_time, end_time, limit,
                                  next_token, filter_pattern, interleaved, log_stream_name_prefix=None):
        # moto's checks, plus the stream prefix passed on.
        if log_group_name not in self.groups:
            raise ResourceNotFoundException()
        if limit and limit > 10000:
            raise InvalidParameterException(
                constraint="Member must have value less than or equal to 10000",
                parameter="limit", value=limit)
        return self.groups[log_group_name].filter_log_events(
            log_group_name, log_stream_names, start_time, end_time, limit, next_token,
            filter_pattern, interleaved, log_stream_name_prefix)

    logs_models.LogsBackend.filter_log_events = backend_filter_log_events

    def response_filter_log_events(self):
        return _answer_json(lambda: self.logs_backend.filter_log_events(
            self._get_param("logGroupName"),
            self._get_param("logStreamNames", []),
            self._get_param("startTime"),
            self._get_param("endTime"),
            self._get_param("limit"),
            self._get_param("nextToken"),
            self._get_param("filterPattern"),
            self._get_param("interleaved", False),
            self._get_param("logStreamNamePrefix"),
        ), ("events", "nextToken", "searchedLogStreams"))

    LogsResponse.filter_log_events = response_filter_log_events

    def response_get_log_events(self):
        # moto's handler, with the page as JSON texts; the backend's checks are moto's.
        return _answer_json(lambda: self.logs_backend.get_log_events(
            log_group_name=self._get_param("logGroupName"),
            log_group_id=self._get_param("logGroupIdentifier"),
            log_stream_name=self._get_param("logStreamName"),
            start_time=self._get_param("startTime"),
            end_time=self._get_param("endTime"),
            limit=self._get_param("limit"),
            next_token=self._get_param("nextToken"),
            start_from_head=self._get_param("startFromHead", False),
        ), ("events", "nextBackwardToken", "nextForwardToken"))

    LogsResponse.get_log_events = response_get_log_events

    # Index (and write the JSON of) new events as they are put, so no read pays for it.
    put = logs_models.LogStream.put_log_events

    def stream_put_log_events(self, log_events):
        result = put(self, log_events)
        _index(self)
        return result

    logs_models.LogStream.put_log_events = stream_put_log_events
