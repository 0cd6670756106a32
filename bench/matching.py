"""Benchmark of duplicate matching: N local clientes against N incoming ones.

Why: the spec's matcher compares every incoming name with every local one (quadratic); a
pull of a large store must stay fast, so matching uses blocking. This measures that the
cost grows about linearly with the data and that blocking still finds the planted
near-duplicates.

Data (Faker pt_BR, seeded): N local canonical clientes; N incoming ones of which ~10% share
an exact key (e-mail or CPF) with a local one, ~5% carry a near-duplicate of a local name
(accents, case, a company suffix or one typo) and no shared key, the rest are new people.
Every incoming record is matched exactly; those without an exact match are then matched
fuzzily (as the pull does).

    .venv/bin/python bench/matching.py --sizes 10000,100000

Prints, per size: build time, match time, total (wall clock, and CPU time of this process),
matches found (exact; incoming records with fuzzy suggestions; planted near-duplicates whose
twin was suggested, or lost its place only to locals at least as similar) and the growth
ratio: CPU time per record against the previous size, 1.0 being linear. The last line is
JSON with the same figures.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from typing import Any

from faker import Faker

from crmsync.matching import Candidate, MatchIndex, name_similarity

EXACT_SHARE = 0.10
NEAR_SHARE = 0.05
LIMIT = 5  # suggestions asked per record, as the pull does
THRESHOLD = 0.85  # the spec's similarity for a possible duplicate


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


def _typo(name: str, rng: random.Random) -> str:
    """One near-duplicate variant of a name: case/accents, a suffix, or one typo inside the
    longest word (never its first letter)."""
    kind = rng.randrange(4)
    if kind == 0:
        return name.upper()
    if kind == 1:
        return f"{name} LTDA"
    words = name.split()
    i = max(range(len(words)), key=lambda k: len(words[k]))
    word = words[i]
    if len(word) < 4:
        return name.lower()
    pos = rng.randrange(1, len(word) - 1)
    dropped = word[:pos] + word[pos + 1 :]
    swapped = word[:pos] + word[pos + 1] + word[pos] + word[pos + 2 :]
    words[i] = dropped if kind == 2 else swapped
    return " ".join(words)


def generate(n: int, seed: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[int, int]]:
    """N local and N incoming clientes, and which local record each planted
    near-duplicate (incoming position -> local id) copies."""
    fake = Faker("pt_BR")
    fake.seed_instance(seed)
    rng = random.Random(seed)

    def person(i: int, tag: str) -> dict[str, Any]:
        if rng.random() < 0.85:
            return {
                "tipo_pessoa": "PF",
                "nome": fake.name(),
                "cpf": _digits(fake.cpf()),
                "email": f"{tag}{i}@example.com",  # unique: no accidental exact matches
                "cidade": fake.city(),
            }
        return {
            "tipo_pessoa": "PJ",
            "nome": fake.company(),
            "cnpj": _digits(fake.cnpj()),
            "email": f"{tag}{i}@example.com",
            "cidade": fake.city(),
        }

    local = [person(i, "l") for i in range(n)]
    incoming: list[dict[str, Any]] = []
    near: dict[int, int] = {}
    for i in range(n):
        roll = rng.random()
        twin_id = rng.randrange(n)
        twin = local[twin_id]
        if roll < EXACT_SHARE:
            rec = person(i, "x")
            key = "cpf" if "cpf" in twin and rng.random() < 0.5 else "email"
            rec[key] = twin[key]
        elif roll < EXACT_SHARE + NEAR_SHARE:
            rec = {
                "tipo_pessoa": twin["tipo_pessoa"],
                "nome": _typo(twin["nome"], rng),
                "email": f"n{i}@example.com",
                "cidade": twin["cidade"],
            }
            near[i] = twin_id
        else:
            rec = person(i, "i")
        incoming.append(rec)
    return local, incoming, near


def _found(candidates: list[Candidate], name: str, twin_id: int, twin_name: str) -> bool:
    """The planted twin is among the suggestions, or lost its place only to records at
    least as similar (Faker repeats names, so several locals can score 1.0)."""
    if any(c.local_id == twin_id for c in candidates):
        return True
    return len(candidates) == LIMIT and candidates[-1].score >= name_similarity(name, twin_name)


def run(n: int, seed: int) -> dict[str, Any]:
    local, incoming, near = generate(n, seed)

    wall, cpu = time.perf_counter(), time.process_time()
    index = MatchIndex("cliente")
    for local_id, rec in enumerate(local):
        index.add(local_id, rec)
    built_wall, built_cpu = time.perf_counter(), time.process_time()

    exact = fuzzy = near_found = 0
    for position, rec in enumerate(incoming):
        if index.exact(rec) is not None:
            exact += 1
            continue
        candidates = index.fuzzy(rec, threshold=THRESHOLD, limit=LIMIT)
        if candidates:
            fuzzy += 1
            twin = near.get(position)
            if twin is not None and _found(candidates, rec["nome"], twin, local[twin]["nome"]):
                near_found += 1
    done_wall, done_cpu = time.perf_counter(), time.process_time()

    return {
        "n": n,
        "build_s": round(built_wall - wall, 3),
        "match_s": round(done_wall - built_wall, 3),
        "total_s": round(done_wall - wall, 3),
        "build_cpu_s": round(built_cpu - cpu, 3),
        "match_cpu_s": round(done_cpu - built_cpu, 3),
        "total_cpu_s": round(done_cpu - cpu, 3),
        "exact_matches": exact,
        "fuzzy_matched_records": fuzzy,
        "planted_near": len(near),
        # a typo can take a short name below the threshold: those cannot be suggested
        "planted_near_findable": sum(
            name_similarity(incoming[pos]["nome"], local[twin]["nome"]) >= THRESHOLD for pos, twin in near.items()
        ),
        "planted_near_found": near_found,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000", help="comma-separated N values")
    parser.add_argument("--seed", type=int, default=20250114)
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]

    results: list[dict[str, Any]] = []
    for n in sizes:
        r = run(n, args.seed)
        growth = ""
        if results:
            prev = results[-1]
            # per-record CPU time against the previous size: steady on a busy machine,
            # where wall time also counts waiting for a core
            r["growth_ratio"] = round((r["total_cpu_s"] / n) / (prev["total_cpu_s"] / prev["n"]), 2)
            growth = f"  growth x{r['growth_ratio']} per record vs N={prev['n']}"
        results.append(r)
        print(
            f"N={n:>7}: build {r['build_s']:.2f}s  match {r['match_s']:.2f}s  total {r['total_s']:.2f}s "
            f"(cpu {r['total_cpu_s']:.2f}s)  exact {r['exact_matches']}  fuzzy {r['fuzzy_matched_records']}  "
            f"near-dups found {r['planted_near_found']}/{r['planted_near_findable']} findable "
            f"({r['planted_near']} planted){growth}",
            flush=True,
        )
    print(json.dumps({"benchmark": "matching", "seed": args.seed, "results": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
