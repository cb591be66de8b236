# The two commands a user needs: `make run` and `make test`. Everything installs into .venv/.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
BBC ?= ../shared/corpora/bbc

# llama.cpp built with -march=native uses this CPU's AMX/AVX-512 kernels, which crash here (segfault on the
# first decode). Build for AVX2 instead: portable to any x86-64 laptop of the last decade.
# AVX-512 kernels (without AMX) are added where the CPU has them: prompt reading goes from 66 to 95 tokens/s here.
ifeq ($(shell uname -m),x86_64)
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON \
  $(if $(shell grep -m1 -o avx512f /proc/cpuinfo 2>/dev/null),-DGGML_AVX512=ON -DGGML_AVX512_VBMI=ON -DGGML_AVX512_VNNI=ON -DGGML_AVX512_BF16=ON,) \
  $(if $(shell grep -m1 -o avx_vnni /proc/cpuinfo 2>/dev/null),-DGGML_AVX_VNNI=ON,)
endif

.PHONY: install run test lint docs index eval eval-bbc eval-large eval-briefings corpus-bbc corpus-briefing bench browsers clean peer injection loadtest

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	# The CPU build of torch first: an unpinned torch would pull a multi-GB CUDA build.
	$(VENV)/bin/pip install torch==2.13.0
	# No wheel cache for llama-cpp-python: a cached wheel may hold a native build made without these flags.
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(VENV)/bin/pip install --no-cache-dir "llama-cpp-python==0.3.36"
	$(VENV)/bin/pip install -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# The command reference, generated from each command's --help (tests/test_command_reference.py holds it to that).
docs: install
	env $(foreach v,RAG_CORPUS RAG_INDEX RAG_EMBEDDER RAG_MODEL RAG_TOP_K RAG_HOST RAG_PORT,-u $(v)) $(PY) -m rag.cli > docs/commands.md

run: install
	$(PY) app.py

index: install
	$(PY) -m rag.build_index

# Lint, format and type check: what `make test` runs before the tests.
lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

browsers:
	@command -v chromium >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)

# Every test (what CI runs), the real models and the browser included.
test: install browsers lint
	$(PY) -m pytest -ra

# The tests that load neither real model nor a browser (tests/conftest.py marks the others): under a minute.
.PHONY: test-fast
test-fast: install
	$(PY) -m pytest -q -m "not model and not embedder and not browser"

# Each run is paired with the previous one (kept as *.prev.json): what it gained and lost, and whether by chance.
eval: install
	@if [ -f reports/eval_seeds.json ]; then cp reports/eval_seeds.json reports/eval_seeds.prev.json; fi
	$(PY) -m rag.eval.evaluate --qa eval/qa.jsonl --corpus seeds --index index --out reports/eval_seeds.json \
	  $(if $(wildcard reports/eval_seeds.json),--compare reports/eval_seeds.prev.json)

# The seed article at the root and the BBC corpus under bbc/ (symlinks, nothing copied).
corpus-bbc:
	mkdir -p corpora/news
	ln -sfn ../../seeds/000_34dd6e6ea37e3941.txt corpora/news/000_34dd6e6ea37e3941.txt
	ln -sfn $(abspath $(BBC)) corpora/news/bbc

# The briefing set's archive: the seed, the BBC corpus and the hand-written dated articles of eval/dated.
corpus-briefing:
	mkdir -p corpora/briefing
	ln -sfn ../../seeds/000_34dd6e6ea37e3941.txt corpora/briefing/000_34dd6e6ea37e3941.txt
	ln -sfn $(abspath $(BBC)) corpora/briefing/bbc
	ln -sfn ../../eval/dated corpora/briefing/dated

# The briefing set's dev half (rag/eval/briefings.py); its sealed half is run once at the end of an issue.
eval-briefings: install corpus-briefing
	$(PY) -m rag.eval.briefings --briefings eval/briefings.jsonl --split dev --corpus corpora/briefing \
	  --index corpora/index-briefing --out reports/briefings_dev.json

eval-bbc: install corpus-bbc
	@if [ -f reports/eval_bbc.json ]; then cp reports/eval_bbc.json reports/eval_bbc.prev.json; fi
	$(PY) -m rag.eval.evaluate --qa eval/qa_bbc.jsonl --corpus corpora/news --index corpora/index-news --out reports/eval_bbc.json \
	  $(if $(wildcard reports/eval_bbc.json),--compare reports/eval_bbc.prev.json)

# The large set's dev half (the half to tune on); its sealed half is run once at the end of an issue (docs/evaluation.md).
eval-large: install corpus-bbc
	@if [ -f reports/eval_large_dev.json ]; then cp reports/eval_large_dev.json reports/eval_large_dev.prev.json; fi
	$(PY) -m rag.eval.evaluate --qa eval/qa_large.jsonl --split dev --corpus corpora/news --index corpora/index-news \
	  --out reports/eval_large_dev.json $(if $(wildcard reports/eval_large_dev.json),--compare reports/eval_large_dev.prev.json)

# The peer baseline: a default LlamaIndex pipeline (extra `peer`) with the same two models, on the large set's dev half,
# judged by the same metrics (rag/eval/peer.py). Its index is kept in reports/peer-index/ and reused.
PEER_STAMP := $(VENV)/.peer-installed
$(PEER_STAMP): $(STAMP)
	$(VENV)/bin/pip install -e '.[peer]'
	touch $(PEER_STAMP)

peer: $(PEER_STAMP) corpus-bbc
	$(PY) -m rag.eval.peer --qa eval/qa_large.jsonl --split dev --corpus corpora/news --out reports/peer_large_dev.json

# Prompt injection measured (rag/eval/injection.py): each attack of eval/injection.jsonl planted in its own copy of
# the BBC corpus, the question asked with and without it; the held-out third is run once at the end of a change.
injection: install corpus-bbc
	$(PY) -m rag.build_index --corpus corpora/news --index corpora/index-news
	$(PY) -m rag.eval.injection --split dev --corpus corpora/news --index corpora/index-news \
	  --cache reports/cache/injection.jsonl --out reports/injection_dev.json

bench: install corpus-bbc
	$(PY) -m rag.eval.bench --corpus seeds --qa eval/qa.jsonl --out reports/bench_seeds.json
	$(PY) -m rag.eval.bench --corpus corpora/news --qa eval/qa_bbc.jsonl --out reports/bench_news.json

# The scale benchmark (rag/eval/scale.py): synthetic archives of 2k, 20k and 100k articles built from the BBC corpus
# in $(SCALE_WORK), each measured (build, memory, disk, load, retrieval, no-op and incremental rebuilds, retrieval
# quality); a size whose build is estimated over SCALE_MAX_MINUTES is written but not built. The estimate takes the
# previous size's articles per second, which overstates the larger synthetic archives (their sentences repeat and
# are embedded once): on 2 cores 2k took 11 min, 20k 21 min and 100k 43 min, about 2 hours in all with the rest.
SCALE ?= 2000,20000,100000
SCALE_WORK ?= /tmp/newsrag-scale
SCALE_MAX_MINUTES ?= 120
.PHONY: bench-scale
bench-scale: install
	$(PY) -m rag.eval.bench --scale $(SCALE) --bbc $(BBC) --work $(SCALE_WORK) \
	  --max-build-minutes $(SCALE_MAX_MINUTES) --out reports/bench_scale.json

# The chat started on a free loopback port and driven by 8 users at once (5 questions each, follow-ups included)
# while a ninth uploads 3 articles: every answer checked, queue wait and answer time per user (rag/eval/loadtest.py).
loadtest: install
	$(PY) -m rag.eval.loadtest --out reports/loadtest.json

clean:
	rm -rf index/current index/gen-* corpora reports
