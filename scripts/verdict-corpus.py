#!/usr/bin/env python3
"""Turns saved probe runs into rows of the labelled verdict corpus (tests/data/verdicts/answers*.jsonl;
new rows go to the last file, and a new file is started before one passes 2 MiB).

Usage: verdict-corpus.py --questions SOURCE=FILE [--questions ...] RUN.json [RUN.json ...] > rows.jsonl

Each run is a record written by `modelvet probe --prompts FILE -o RUN.json`. Each SOURCE=FILE names a prompt
list the runs imported (`.csv` with prompt/prompt_en/prompt_zh columns, `.txt`, `.jsonl` with prompt or
question), so every answer is matched to the question it answers (the run keeps the chat-templated prompt).

A row holds what a labeller and the evaluator need, and no detector output (labellers must not see it):
key, model, model_sha256, source, lang, kind (sensitive/control/harmless), subject, prompt, prompt_sha256,
answer, split. The split is fixed by the answer's hash (`dev` when the first byte of sha256(answer) is even,
else `test`), so no choice of ours decides which answers we may tune on.

Only the questions in `tests/data/verdicts/questions.csv` keep their text. Prompts from a public set
(deccp, SpeechMap, promptfoo) are not copied into the repository: their row has `prompt: null` and the
prompt's sha256, which `modelvet eval-verdicts --prompts FILE` uses to restore the text from a local copy.

Labels (`label`, `reason`) are added by hand afterwards; this script never writes them.
"""
import csv
import hashlib
import json
import os
import sys

OWN = "questions"


def sha(s):
    return hashlib.sha256(s.encode("utf-8")).hexdigest()


def load_questions(path):
    ext = os.path.splitext(path)[1].lower()
    out = []
    if ext == ".csv":
        with open(path, encoding="utf-8", newline="") as f:
            for row in csv.DictReader(f):
                for col in ("prompt", "question", "prompt_en", "prompt_zh"):
                    if row.get(col):
                        out.append(row[col].strip())
    elif ext == ".jsonl":
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    d = json.loads(line)
                    q = d.get("prompt") or d.get("question")
                    if q:
                        out.append(q.strip())
    else:
        with open(path, encoding="utf-8") as f:
            out = [l.strip() for l in f if l.strip() and not l.startswith("#")]
    return out


def kind_of(suite):
    if suite.endswith(":controls"):
        return "control"
    if suite.endswith(":harmless"):
        return "harmless"
    return "sensitive"


def main(argv):
    sources, runs = [], []
    it = iter(argv)
    for a in it:
        if a == "--questions":
            name, _, path = next(it).partition("=")
            sources.append((name, load_questions(path)))
        else:
            runs.append(a)
    for path in runs:
        run = json.load(open(path, encoding="utf-8"))
        model = os.path.basename(run["model"]["reference"])
        files = run["model"].get("files") or [["", ""]]
        for r in run["results"]:
            o = r["outcome"]
            if o.get("kind") != "generated":
                continue
            # The longest source question inside the templated prompt is the one asked.
            best = None
            for name, qs in sources:
                for q in qs:
                    if q in r["prompt"] and (best is None or len(q) > len(best[1])):
                        best = (name, q)
            if best is None:
                sys.exit(f"{path}: no source question matches probe {r['probe']}")
            name, q = best
            answer = o["answer"]
            topic = r["topic"]
            for p in ("control-", "harmless-"):
                if topic.startswith(p) and kind_of(r["suite"]) != "sensitive":
                    topic = topic[len(p):]
            print(json.dumps({
                "key": f"{model.split('.')[0].lower()}/{r['probe']}/{r['repeat']}",
                "model": model,
                "model_sha256": files[0][1],
                "source": name,
                "lang": r["lang"],
                "kind": kind_of(r["suite"]),
                "subject": topic,
                "prompt": q if name == OWN else None,
                "prompt_sha256": sha(q),
                "answer": answer,
                "split": "dev" if int(sha(answer)[:2], 16) % 2 == 0 else "test",
            }, ensure_ascii=False))


if __name__ == "__main__":
    main(sys.argv[1:])
