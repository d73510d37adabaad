#!/usr/bin/env python3
"""PinPipe's batch job done with pandas: the peer that `pinpipe batch` is measured against.

A port of the original project's Databricks notebook (PySpark) to pandas, following the data
contract (SPEC.md §4 cleaning rules, §5 insights) so that both sides compute the same answers:

1. read every raw object ``topics/<topic>/partition=*/*.json`` (one JSON value a line) of the
   topics ``<U>.pin``, ``<U>.geo`` and ``<U>.user`` in the bucket folder;
2. clean each table: per-column junk markers and blank strings become null, follower_count
   becomes a whole number (k/M/B suffixes, decimals), save_location loses its prefix,
   coordinates = [latitude, longitude], user_name = first + " " + last, timestamps parsed as
   UTC, one row per ind (the first seen), and records that cannot be used are counted as rejects
   with the reason and where they came from (read = clean + duplicates + rejects);
3. compute the nine insights and write each as CSV into the output folder.

Writes ``counts.json`` (read/clean/duplicates/rejects per table), ``quality.json`` (values each
rule nulled or converted), ``rejects/<table>_rejects.csv`` and ``insights/<n>_<name>.csv`` into
--out; with --write-clean also ``clean/<table>.jsonl`` (the fixtures' format). Prints one JSON
line of timings: {"read_s", "clean_s", "insights_s", "total_s", "records"}.

Needs Python 3 and pandas only (Debian: python3-pandas).
Usage: pandas_batch.py --bucket DIR --user-id U --out DIR [--write-clean]
"""

import argparse
import json
import math
import os
import re
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

# SPEC §4: per column, the values that carry no data.
PIN_MARKERS = {
    "title": ["No Title Data Available"],
    "description": ["No description available Story format", "No description available", "Untitled"],
    "poster_name": ["User Info Error"],
    "follower_count": ["User Info Error"],
    "tag_list": ["N,o, ,T,a,g,s, ,A,v,a,i,l,a,b,l,e"],
    "image_src": ["Image src error."],
}
PIN_STRINGS = ["unique_id", "title", "description", "follower_count", "poster_name", "tag_list",
               "is_image_or_video", "image_src", "save_location", "category"]
PIN_COLUMNS = ["ind", "unique_id", "title", "description", "follower_count", "poster_name", "tag_list",
               "is_image_or_video", "image_src", "save_location", "category"]
GEO_COLUMNS = ["ind", "country", "coordinates", "timestamp"]
USER_COLUMNS = ["ind", "user_name", "age", "date_joined"]

OBJECT_NAME = re.compile(r"^.+\+(\d+)\+(\d+)\.json$")
PARTITION_DIR = re.compile(r"^partition=(\d+)$")
FOLLOWERS = r"^(?P<whole>\d+)(?:\.(?P<frac>\d+))?(?P<suffix>[kMB])?$"
MULTIPLIERS = {"k": 1e3, "M": 1e6, "B": 1e9}
ISO_8601 = re.compile(r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?$")
AGE_BINS = [17, 24, 35, 50, math.inf]
AGE_LABELS = ["18-24", "25-35", "36-50", "+50"]


class Raw:
    """The raw records of one topic: a frame of the JSON objects, plus the lines that were not objects."""

    def __init__(self, topic, objects, frame, bad_lines, read):
        self.topic = topic
        self.objects = objects      # [(partition, start offset, path)], in reading order
        self.frame = frame          # one row per JSON object; _obj, _line say where it came from
        self.bad_lines = bad_lines  # [(object number, line number, reason)]
        self.read = read            # records read (lines)

    def raw_text(self, obj, line):
        data = self.objects[obj][2].read_bytes()
        return data.split(b"\n")[line].decode("utf-8", errors="replace")

    def source(self, obj, line):
        partition, start, path = self.objects[obj]
        return f"{self.topic}/partition={partition}/{path.name}", start + line


def list_objects(bucket, topic):
    """The topic's raw objects in offset order: partition, then start offset."""
    folder = bucket / "topics" / topic
    if not folder.is_dir():
        raise SystemExit(f"pandas_batch: no raw objects for topic '{topic}': folder {folder} is missing")
    objects = []
    for pdir in folder.iterdir():
        m = PARTITION_DIR.match(pdir.name)
        if not m or not pdir.is_dir():
            continue
        for f in pdir.iterdir():
            if f.name.startswith(".") or not f.name.endswith(".json"):
                continue
            n = OBJECT_NAME.match(f.name)
            objects.append((int(m.group(1)), int(n.group(2)) if n else 0, f))
    objects.sort(key=lambda o: (o[0], o[1], o[2].name))
    return objects


def parse_object(data):
    """(records as dicts, their line numbers or None for 0..n-1, bad lines [(line, reason)], lines read)."""
    body = data[:-1] if data.endswith(b"\n") else data
    if not body:
        return [], None, [], 0
    lines = body.count(b"\n") + 1
    try:
        # Fast path: the whole object as one JSON array (no raw newline can occur inside a JSON value).
        records = json.loads(b"[" + body.replace(b"\n", b",") + b"]")
        if len(records) == lines and all(type(r) is dict for r in records):
            return records, None, [], lines
    except ValueError:
        pass
    records, numbers, bad = [], [], []
    for i, line in enumerate(body.split(b"\n")):
        try:
            value = json.loads(line)
        except ValueError:
            bad.append((i, "not JSON"))
            continue
        if type(value) is not dict:
            bad.append((i, "not a JSON object"))
            continue
        records.append(value)
        numbers.append(i)
    return records, numbers, bad, lines


def read_topic(bucket, topic):
    objects = list_objects(bucket, topic)
    frames, bad_lines, read = [], [], 0
    for number, (_, _, path) in enumerate(objects):
        records, numbers, bad, lines = parse_object(path.read_bytes())
        read += lines
        bad_lines.extend((number, line, reason) for line, reason in bad)
        if records:
            frame = pd.DataFrame(records)
            frame["_obj"] = np.int32(number)
            frame["_line"] = np.arange(len(records), dtype=np.int32) if numbers is None else np.array(numbers, dtype=np.int32)
            frames.append(frame)
    frame = pd.concat(frames, ignore_index=True, copy=False) if frames else pd.DataFrame({"_obj": [], "_line": []})
    return Raw(topic, objects, frame, bad_lines, read)


# ---- coercion: (values, bad mask) ----

def column(frame, name):
    return frame[name] if name in frame.columns else pd.Series(None, index=frame.index, dtype=object)


def to_integer(s):
    """float64 values (NaN = null) and the mask of values that are not whole numbers."""
    if s.dtype.kind in "iu":
        return s.astype("float64"), pd.Series(False, index=s.index)
    if s.dtype.kind == "b":
        return pd.Series(np.nan, index=s.index), pd.Series(True, index=s.index)
    present = s.notna()
    if s.dtype == object:
        present &= ~s.map(lambda v: type(v) is bool) if present.any() else present
    values = pd.to_numeric(s.where(present), errors="coerce")
    bad = (present & values.isna()) | (values.notna() & (values != np.floor(values)))
    return values.where(~bad), bad | (s.notna() & ~present)


def to_double(s):
    if s.dtype.kind in "iuf":
        return s.astype("float64"), pd.Series(False, index=s.index)
    values = pd.to_numeric(s, errors="coerce")
    return values, s.notna() & values.isna()


def to_timestamp(s):
    """UTC timestamps: 'YYYY-MM-DD HH:MM:SS' on the fast path, other ISO 8601 forms one by one."""
    if s.dtype != object:
        return pd.Series(pd.NaT, index=s.index, dtype="datetime64[ns, UTC]"), s.notna()
    values = pd.to_datetime(s, format="%Y-%m-%d %H:%M:%S", utc=True, errors="coerce")
    retry = values.isna() & s.notna()
    if retry.any():
        def iso(v):
            if type(v) is str and ISO_8601.match(v.strip()):
                return pd.to_datetime(v.strip(), utc=True, errors="coerce")
            return pd.NaT
        values = values.copy()
        values[retry] = pd.to_datetime(s[retry].map(iso), utc=True, errors="coerce")
    return values, values.isna() & s.notna()


def to_string(s):
    """Text values; numbers become their JSON text; booleans, arrays and objects cannot be text."""
    if s.dtype.kind in "iuf":
        # A float column may be whole numbers widened by a missing value: write those as integers.
        return s.map(lambda v: None if v != v else json.dumps(int(v) if float(v).is_integer() else v)), pd.Series(False, index=s.index)
    if s.dtype.kind == "b" or s.dtype != object:
        return pd.Series(None, index=s.index, dtype=object), s.notna()
    if pd.api.types.infer_dtype(s, skipna=True) in ("string", "empty"):
        return s, pd.Series(False, index=s.index)
    kind = s.map(type)
    numbers = kind.isin([int, float])
    bad = s.notna() & ~numbers & ~kind.eq(str)
    s = s.where(~numbers, s[numbers].map(json.dumps)).where(~bad)
    return s, bad


def null_blanks_and_markers(s, markers, quality, name):
    blank = s.eq("") | s.str.isspace().fillna(False).astype(bool)
    junk = s.isin(markers) if markers else pd.Series(False, index=s.index)
    quality[f"{name}: blank -> null"] = int(blank.sum())
    if markers:
        quality[f"{name}: junk marker -> null"] = int(junk.sum())
    return s.mask(blank | junk)


# ---- cleaning ----

class Clean:
    def __init__(self, table, frame, counts, quality, rejects):
        self.table, self.frame, self.counts, self.quality, self.rejects = table, frame, counts, quality, rejects


def clean_table(table, raw, key, typed, build):
    """Rejects (bad lines, missing or non-integer key, values of the wrong type), then the first row per ind, then `build`."""
    f = raw.frame
    reason = pd.Series(None, index=f.index, dtype=object)

    def flag(mask, text):
        nonlocal reason
        reason = reason.mask(mask & reason.isna(), text)

    ind, bad_key = to_integer(column(f, key))
    flag(ind.isna() & ~bad_key, f"no key '{key}'")
    flag(bad_key, f"key '{key}' is not an integer")
    converted = {}
    for name, convert, kind in typed:
        values, bad = convert(column(f, name))
        converted[name] = values
        flag(bad, f"{name} is not {kind}")

    rejected = reason.notna()
    rejects = [(o, line, r) for o, line, r in raw.bad_lines]
    rejects += list(zip(f["_obj"][rejected].tolist(), f["_line"][rejected].tolist(), reason[rejected].tolist()))

    keep = ~rejected
    first = keep & ~ind.where(keep).duplicated(keep="first")
    duplicates = int(keep.sum() - first.sum())
    rows = f[first]
    data = {"ind": ind[first].astype("int64")}
    for name, values in converted.items():
        data[name] = values[first]
    quality = {}
    out = build(rows, data, quality)
    counts = {"read": raw.read, "clean": len(out), "duplicates": duplicates, "rejects": len(rejects)}
    assert counts["read"] == counts["clean"] + counts["duplicates"] + counts["rejects"], counts
    return Clean(table, out.reset_index(drop=True), counts, quality, rejects)


def build_pin(rows, data, quality):
    out = {"ind": data["ind"]}
    for name in PIN_STRINGS:
        s, bad = to_string(column(rows, name))
        if bad.any():
            # Not text (e.g. an array): null, counted as a violation; the key and typed columns decide rejects.
            quality[f"{name}: not text -> null"] = int(bad.sum())
        out[name] = null_blanks_and_markers(s, PIN_MARKERS.get(name), quality, name)
    text = out["follower_count"]
    is_text = text.str.len().notna()
    parts = text.str.extract(FOLLOWERS)
    whole = pd.to_numeric(parts["whole"], errors="coerce")
    frac = parts["frac"]
    multiplier = parts["suffix"].map(MULTIPLIERS).fillna(1.0)
    fraction = np.floor(pd.to_numeric(frac, errors="coerce").fillna(0) * multiplier / np.power(10.0, frac.str.len().fillna(0)))
    followers = whole * multiplier + fraction
    violation = is_text & (whole.isna() | (frac.notna() & parts["suffix"].isna()))
    followers = followers.where(~violation)
    quality["follower_count: k/M/B -> number"] = int((parts["suffix"].notna() & ~violation).sum())
    quality["follower_count: not a number -> null (violation)"] = int(violation.sum())
    out["follower_count"] = followers
    save = out["save_location"]
    stripped = save.str.removeprefix("Local save in ")
    quality["save_location: prefix removed"] = int((stripped != save).fillna(False).astype(bool).sum())
    out["save_location"] = stripped
    return pd.DataFrame(out)[PIN_COLUMNS]


def build_geo(rows, data, quality):
    country, bad = to_string(column(rows, "country"))
    if bad.any():
        quality["country: not text -> null"] = int(bad.sum())
    country = null_blanks_and_markers(country, None, quality, "country")
    coordinates = np.column_stack((data["latitude"].to_numpy(), data["longitude"].to_numpy())).tolist()
    return pd.DataFrame({"ind": data["ind"], "country": country, "coordinates": coordinates, "timestamp": data["timestamp"]})


def build_user(rows, data, quality):
    names = []
    for name in ("first_name", "last_name"):
        s, bad = to_string(column(rows, name))
        if bad.any():
            quality[f"{name}: not text -> null"] = int(bad.sum())
        names.append(null_blanks_and_markers(s, None, quality, name))
    first, last = names
    user_name = first.str.cat(last, sep=" ").fillna(first).fillna(last)
    return pd.DataFrame({"ind": data["ind"], "user_name": user_name, "age": data["age"], "date_joined": data["date_joined"]})


# ---- insights (SPEC §5) ----

def top_per_group(counted, group, name, value):
    """The row with the largest value per group; ties go to the alphabetically first name."""
    ordered = counted.sort_values([group, value, name], ascending=[True, False, True], kind="mergesort")
    return ordered.drop_duplicates(group, keep="first").reset_index(drop=True)


def most_popular(frame, group, name="category", count="category_count"):
    counted = frame.dropna(subset=[group, name]).groupby([group, name], sort=False).size().reset_index(name=count)
    return top_per_group(counted, group, name, count)[[group, name, count]]


def lower_median(frame, keys, value="follower_count", out="median_follower_count"):
    medians = (frame.dropna(subset=keys + [value]).groupby(keys)[value]
               .quantile(0.5, interpolation="lower").reset_index(name=out))
    medians[out] = medians[out].astype("int64")
    return medians.sort_values(keys, kind="mergesort").reset_index(drop=True)


def age_groups(age):
    return pd.cut(age, bins=AGE_BINS, labels=AGE_LABELS, right=True).astype(object)


def insights(pin, geo, user):
    pin = pin[["ind", "category", "poster_name", "follower_count"]]
    geo = geo[["ind", "country", "timestamp"]].assign(post_year=lambda g: g["timestamp"].dt.year)
    user = user[["ind", "age", "date_joined"]].assign(join_year=lambda u: u["date_joined"].dt.year, age_group=lambda u: age_groups(u["age"]))
    pin_geo = pin.merge(geo, on="ind", how="inner")
    pin_user = pin.merge(user, on="ind", how="inner")
    results = {}

    results["1_popular_category_per_country"] = most_popular(pin_geo, "country")

    years = pin_geo[pin_geo["post_year"].between(2018, 2022)]
    q2 = most_popular(years, "post_year")
    q2["post_year"] = q2["post_year"].astype("int64")
    results["2_popular_category_per_post_year"] = q2

    posters = pin_geo.dropna(subset=["country", "poster_name", "follower_count"])
    q3 = top_per_group(posters[["country", "poster_name", "follower_count"]], "country", "poster_name", "follower_count")
    q3["follower_count"] = q3["follower_count"].astype("int64")
    results["3_top_poster_per_country"] = q3

    # Every country whose top poster has the overall maximum, one row each (q3 has one row per country, by
    # country), as the notebook's filter(follower_count == max) keeps every row at the maximum.
    q4 = q3[q3["follower_count"] == q3["follower_count"].max()]
    results["4_country_of_top_poster"] = q4[["country", "follower_count"]].reset_index(drop=True)

    results["5_popular_category_per_age_group"] = most_popular(pin_user, "age_group")
    results["6_median_followers_per_age_group"] = lower_median(pin_user, ["age_group"])

    joined = user[user["join_year"].between(2015, 2020)]
    q7 = joined.groupby("join_year").size().reset_index(name="number_users_joined").rename(columns={"join_year": "post_year"})
    q7["post_year"] = q7["post_year"].astype("int64")
    results["7_users_joined_per_year"] = q7

    pin_user_years = pin_user[pin_user["join_year"].between(2015, 2020)].rename(columns={"join_year": "post_year"})
    q8 = lower_median(pin_user_years, ["post_year"])
    q8["post_year"] = q8["post_year"].astype("int64")
    results["8_median_followers_per_join_year"] = q8
    q9 = lower_median(pin_user_years, ["age_group", "post_year"])
    q9["post_year"] = q9["post_year"].astype("int64")
    results["9_median_followers_per_age_group_and_join_year"] = q9
    return results


# ---- output ----

def timestamp_text(v):
    return None if pd.isna(v) else v.strftime("%Y-%m-%d %H:%M:%S")


def json_value(v):
    if v is None:
        return None
    if isinstance(v, float):
        return None if math.isnan(v) else v
    return v


def write_clean(folder, clean):
    folder.mkdir(parents=True, exist_ok=True)
    frame = clean.frame.copy()
    for name in ("timestamp", "date_joined"):
        if name in frame:
            frame[name] = pd.Series([timestamp_text(v) for v in frame[name]], index=frame.index, dtype=object)
    for name in ("follower_count", "age"):
        if name in frame:
            frame[name] = pd.Series([None if pd.isna(v) else int(v) for v in frame[name]], index=frame.index, dtype=object)
    with open(folder / f"{clean.table}.jsonl", "w", encoding="utf-8") as out:
        for row in frame.itertuples(index=False):
            record = {}
            for name, v in zip(frame.columns, row):
                if name == "coordinates":
                    v = [json_value(float(x)) for x in v]
                elif name == "ind":
                    v = int(v)
                elif not isinstance(v, (list, str, int)) and pd.isna(v):
                    v = None
                record[name] = v
            out.write(json.dumps(record, ensure_ascii=False) + "\n")


def write_rejects(folder, clean, raw):
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for obj, line, reason in sorted(clean.rejects):
        key, offset = raw.source(obj, line)
        rows.append({"object_key": "topics/" + key, "offset": offset, "reason": reason, "raw": raw.raw_text(obj, line)})
    pd.DataFrame(rows, columns=["object_key", "offset", "reason", "raw"]).to_csv(folder / f"{clean.table}_rejects.csv", index=False)


def main(argv):
    parser = argparse.ArgumentParser(description="PinPipe's batch job done with pandas (the benchmark's peer).")
    parser.add_argument("--bucket", required=True, help="the bucket folder holding topics/<topic>/partition=*/*.json")
    parser.add_argument("--user-id", required=True, help="the user id U of the topics U.pin, U.geo, U.user")
    parser.add_argument("--out", required=True, help="output folder (created)")
    parser.add_argument("--write-clean", action="store_true", help="also write the clean tables as clean/<table>.jsonl")
    args = parser.parse_args(argv)
    bucket = Path(args.bucket)
    if not bucket.is_dir():
        raise SystemExit(f"pandas_batch: bucket folder {bucket} does not exist")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    started = time.perf_counter()
    raws = {table: read_topic(bucket, f"{args.user_id}.{table}") for table in ("pin", "geo", "user")}
    read_done = time.perf_counter()

    cleans = {
        "pin": clean_table("pin", raws["pin"], "index", [], build_pin),
        "geo": clean_table("geo", raws["geo"], "ind", [
            ("latitude", to_double, "a number"), ("longitude", to_double, "a number"),
            ("timestamp", to_timestamp, "a timestamp")], build_geo),
        "user": clean_table("user", raws["user"], "ind", [
            ("age", to_integer, "an integer"), ("date_joined", to_timestamp, "a timestamp")], build_user),
    }
    for raw in raws.values():
        raw.frame = None  # the raw frames are no longer needed
    clean_done = time.perf_counter()

    results = insights(cleans["pin"].frame, cleans["geo"].frame, cleans["user"].frame)
    (out / "insights").mkdir(exist_ok=True)
    for name, frame in results.items():
        frame.to_csv(out / "insights" / f"{name}.csv", index=False)
    insights_done = time.perf_counter()

    with open(out / "counts.json", "w", encoding="utf-8") as f:
        json.dump({t: c.counts for t, c in cleans.items()}, f, indent=1)
    with open(out / "quality.json", "w", encoding="utf-8") as f:
        json.dump({t: c.quality for t, c in cleans.items()}, f, indent=1)
    for table, clean in cleans.items():
        write_rejects(out / "rejects", clean, raws[table])
        if args.write_clean:
            write_clean(out / "clean", clean)
    finished = time.perf_counter()

    print(json.dumps({
        "read_s": round(read_done - started, 3),
        "clean_s": round(clean_done - read_done, 3),
        "insights_s": round(insights_done - clean_done, 3),
        "total_s": round(finished - started, 3),
        "records": sum(r.read for r in raws.values()),
    }), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
