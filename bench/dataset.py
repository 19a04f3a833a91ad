"""The benchmark data set: a deterministic catalog (sites, flavors, tags, two benchmarks) and
a stream of realistic result documents, all drawn from one seeded `random.Random`.

Shared by `seed.py` (bulk, through the event store), `seed_http.py` and `load.py` (through
the HTTP API), so every path writes the same kind of data.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from uuid import UUID

# --- the catalog ------------------------------------------------------------------------------
SITES = (
    ("CESNET-MetaCloud", "Brno, Czech Republic"),
    ("IFCA-LCG2", "Santander, Spain"),
    ("INFN-CLOUD-BARI", "Bari, Italy"),
    ("CYFRONET-CLOUD", "Krakow, Poland"),
    ("GRNET-OKEANOS", "Athens, Greece"),
    ("IN2P3-IRES", "Strasbourg, France"),
    ("SCAI-FRAUNHOFER", "Sankt Augustin, Germany"),
    ("TUBITAK-ULAKBIM", "Ankara, Turkey"),
    ("UPV-GRyCAP", "Valencia, Spain"),
    ("DESY-HH-CLOUD", "Hamburg, Germany"),
)
# (name, vCPUs, memory GB, has a GPU)
FLAVORS = (
    ("m1.small", 1, 2, False),
    ("m1.medium", 2, 4, False),
    ("m1.large", 4, 8, False),
    ("m1.xlarge", 8, 16, False),
    ("c1.2xlarge", 16, 32, False),
    ("hpc.32core", 32, 128, False),
    ("g1.gpu-v100", 8, 64, True),
)
FLAVORS_PER_SITE = 6  # each site offers 6 of the 7 kinds, drawn per site
TAGS = ("gpu", "hpc", "cloud", "baseline", "production", "test", "ssd", "infiniband", "kubernetes", "openstack")
CPU_COUNTS = (1, 2, 4, 8, 16, 32)
CPU_MODELS = (
    "Intel Xeon Gold 6248",
    "Intel Xeon E5-2680 v4",
    "AMD EPYC 7452",
    "AMD EPYC 7763",
    "Intel Xeon Platinum 8358",
)

CRAY_SCHEMA = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "$id": "https://github.com/EOSC-synergy/eosc-perf/schemas/c-ray.json",
    "title": "c-ray result",
    "type": "object",
    "required": ["benchmark", "machine", "result"],
    "properties": {
        "benchmark": {
            "type": "object",
            "required": ["name", "version"],
            "properties": {
                "name": {"type": "string"},
                "version": {"type": "string"},
                "scene": {"type": "string"},
                "resolution": {"type": "string", "pattern": "^[0-9]+x[0-9]+$"},
            },
        },
        "machine": {
            "type": "object",
            "required": ["cpu"],
            "properties": {
                "cpu": {
                    "type": "object",
                    "required": ["count"],
                    "properties": {
                        "count": {"type": "integer", "minimum": 1},
                        "model": {"type": "string"},
                        "frequency_ghz": {"type": "number"},
                    },
                },
                "memory_gb": {"type": "number"},
                "os": {"type": "string"},
            },
        },
        "result": {
            "type": "object",
            "required": ["score"],
            "properties": {
                "score": {"type": "number"},
                "time_s": {"type": "number"},
                "threads": {"type": "integer"},
            },
        },
    },
}

CNN_SCHEMA = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "$id": "https://github.com/EOSC-synergy/eosc-perf/schemas/tf-cnn.json",
    "title": "TensorFlow CNN benchmark result",
    "type": "object",
    "required": ["benchmark", "machine", "result"],
    "properties": {
        "benchmark": {
            "type": "object",
            "required": ["model", "framework"],
            "properties": {
                "model": {"type": "string", "enum": ["resnet50", "vgg16", "alexnet", "googlenet"]},
                "framework": {"type": "string"},
                "version": {"type": "string"},
                "batch_size": {"type": "integer"},
            },
        },
        "machine": {
            "type": "object",
            "properties": {
                "cpu": {"type": "object", "properties": {"count": {"type": "integer"}}},
                "gpu": {"type": "object", "properties": {"count": {"type": "integer"}, "model": {"type": "string"}}},
            },
        },
        "result": {
            "type": "object",
            "required": ["images_per_second"],
            "properties": {
                "images_per_second": {"type": "number"},
                "accuracy": {"type": "number", "minimum": 0, "maximum": 1},
                "epochs": {"type": "integer"},
            },
        },
    },
}

BENCHMARKS = (
    # (docker image, tag, url, schema, description, share of the results)
    (
        "deephdc/c-ray",
        "1.1",
        "https://github.com/EOSC-synergy/c-ray",
        CRAY_SCHEMA,
        "c-ray: multi-threaded ray tracer, CPU throughput",
        0.75,
    ),
    (
        "deephdc/benchmarks_cnn",
        "2.13-gpu",
        "https://github.com/deephdc/benchmarks_cnn",
        CNN_SCHEMA,
        "TensorFlow CNN training throughput (tf_cnn_benchmarks)",
        0.25,
    ),
)

EXECUTION_START = datetime(2021, 1, 1, tzinfo=timezone.utc)
EXECUTION_SPAN = timedelta(days=3 * 365)  # execution dates spread over 3 years


def uuid_from(rng: random.Random) -> UUID:
    return UUID(int=rng.getrandbits(128), version=4)


@dataclass(frozen=True)
class FlavorSpec:
    id: UUID
    site_index: int
    name: str
    cpus: int
    memory_gb: int
    gpu: bool


@dataclass(frozen=True)
class Catalog:
    site_ids: tuple[UUID, ...]
    flavors: tuple[FlavorSpec, ...]
    tag_ids: tuple[UUID, ...]
    benchmark_ids: tuple[UUID, ...]

    @classmethod
    def draw(cls, seed: int) -> "Catalog":
        rng = random.Random(f"catalog:{seed}")
        site_ids = tuple(uuid_from(rng) for _ in SITES)
        flavors = []
        for site_index in range(len(SITES)):
            for name, cpus, memory, gpu in sorted(rng.sample(FLAVORS, FLAVORS_PER_SITE)):
                flavors.append(FlavorSpec(uuid_from(rng), site_index, name, cpus, memory, gpu))
        tag_ids = tuple(uuid_from(rng) for _ in TAGS)
        benchmark_ids = tuple(uuid_from(rng) for _ in BENCHMARKS)
        return cls(site_ids, tuple(flavors), tag_ids, benchmark_ids)


@dataclass(frozen=True)
class ResultSpec:
    id: UUID
    benchmark_index: int
    flavor: FlavorSpec
    execution_datetime: datetime
    json: dict
    tag_indexes: tuple[int, ...]
    claimed: bool


def _cray_document(rng: random.Random, flavor: FlavorSpec) -> dict:
    cpus = flavor.cpus if rng.random() < 0.8 else rng.choice(CPU_COUNTS)
    per_core = rng.gauss(38.0, 4.0)
    score = round(max(1.0, per_core * cpus**0.93 * rng.uniform(0.9, 1.1)), 3)
    return {
        "benchmark": {
            "name": "c-ray",
            "version": "1.1",
            "scene": rng.choice(("sphfract", "scene", "tau")),
            "resolution": rng.choice(("1920x1080", "3840x2160", "800x600")),
        },
        "machine": {
            "cpu": {"count": cpus, "model": rng.choice(CPU_MODELS), "frequency_ghz": round(rng.uniform(2.0, 3.6), 2)},
            "memory_gb": flavor.memory_gb,
            "os": rng.choice(("Ubuntu 22.04", "Rocky Linux 9", "Debian 12")),
        },
        "result": {"score": score, "time_s": round(100000.0 / score, 3), "threads": cpus * 2},
    }


def _cnn_document(rng: random.Random, flavor: FlavorSpec) -> dict:
    model = rng.choice(("resnet50", "vgg16", "alexnet", "googlenet"))
    gpus = 1 if flavor.gpu else 0
    base = {"resnet50": 360.0, "vgg16": 220.0, "alexnet": 2600.0, "googlenet": 700.0}[model]
    speed = base * (1.0 if gpus else 0.04 * flavor.cpus) * rng.uniform(0.85, 1.15)
    document = {
        "benchmark": {
            "model": model,
            "framework": "tensorflow",
            "version": "2.13",
            "batch_size": rng.choice((32, 64, 128)),
        },
        "machine": {"cpu": {"count": flavor.cpus}},
        "result": {
            "images_per_second": round(speed, 2),
            "accuracy": round(rng.uniform(0.6, 0.95), 4),
            "epochs": rng.choice((1, 3, 5)),
        },
    }
    if gpus:
        document["machine"]["gpu"] = {"count": gpus, "model": "Tesla V100-SXM2-32GB"}
    return document


class ResultStream:
    """Results number `start`, `start+1`, ... of the data set drawn with `seed`: the same
    numbers always give the same results, whatever the batch boundaries."""

    CLAIMED_SHARE = 0.002  # results hidden by an open claim

    def __init__(self, catalog: Catalog, seed: int, start: int = 0, now: datetime | None = None):
        self.catalog = catalog
        self.seed = seed
        self.next = start
        latest = (now or datetime.now(timezone.utc)) - timedelta(minutes=5)
        self.span_seconds = int(min(EXECUTION_SPAN, latest - EXECUTION_START).total_seconds())
        self._cpu_flavors = [f for f in catalog.flavors if not f.gpu]
        self._all_flavors = list(catalog.flavors)

    def take(self, count: int) -> list[ResultSpec]:
        # One generator per result number: any slice of the stream is reproducible on its own.
        specs = []
        for _ in range(count):
            number = self.next
            self.next += 1
            rng = random.Random(f"result:{self.seed}:{number}")
            cnn = rng.random() >= BENCHMARKS[0][5]
            flavor = rng.choice(self._all_flavors if cnn else self._cpu_flavors)
            document = _cnn_document(rng, flavor) if cnn else _cray_document(rng, flavor)
            executed = EXECUTION_START + timedelta(seconds=rng.randrange(self.span_seconds))
            tag_count = rng.choice((0, 1, 1, 2, 2, 3))
            tags = tuple(sorted(rng.sample(range(len(TAGS)), tag_count)))
            specs.append(
                ResultSpec(
                    uuid_from(rng), 1 if cnn else 0, flavor, executed, document, tags, rng.random() < self.CLAIMED_SHARE
                )
            )
        return specs
