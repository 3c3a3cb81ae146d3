# `make demo`: create .venv, install, draw a small dataset, train on the CPU for a few minutes, generate images,
# print one metric (SWD, which needs no downloaded file), and write a 5-second interpolation video.
# `make test`: create .venv, install the pinned requirements, lint with ruff, run the test suite.
PYTHON ?= python3.11
VENV := .venv
STAMP := $(VENV)/.installed
DEMO_KIMG ?= 48
DEMO_FMAPS ?= 32
DEMO_RUN = $$(ls -d results/*-stylegan2-demo-1gpu-config-e | tail -n 1)

.PHONY: demo test bench clean

$(STAMP): requirements.txt
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements.txt
	touch $(STAMP)

demo: $(STAMP)
	test -d datasets/demo || $(VENV)/bin/python dataset_tool.py create_demo datasets/demo --num_images 2000 --resolution 32
	TF_ENABLE_ONEDNN_OPTS=1 $(VENV)/bin/python train.py --data-dir datasets --dataset demo --config config-e \
		--total-kimg $(DEMO_KIMG) --gamma 1 --mirror-augment true --minibatch 32 --minibatch-gpu 16 \
		--fmap-max $(DEMO_FMAPS) --snapshot-ticks 1 --metrics none
	TF_ENABLE_ONEDNN_OPTS=1 $(VENV)/bin/python run_generator.py generate-images \
		--network $(DEMO_RUN)/network-final.pkl --seeds 0-15 --truncation-psi 1.0
	TF_ENABLE_ONEDNN_OPTS=1 $(VENV)/bin/python run_metrics.py --network $(DEMO_RUN)/network-final.pkl \
		--metrics swd1k --dataset demo --data-dir datasets --mirror-augment true
	TF_ENABLE_ONEDNN_OPTS=1 $(VENV)/bin/python run_generator.py interpolation-video \
		--network $(DEMO_RUN)/network-final.pkl --grid-size 4x2 --image-zoom 4 --duration-sec 5 --truncation-psi 1.0
	@echo "Training images: $(DEMO_RUN)/fakes*.png; generated images: $$(ls -d results/*-generate-images | tail -n 1)"
	@echo "Interpolation video: $$(ls results/*-interpolation-video/*.mp4 | tail -n 1)"
	@echo "Sliced Wasserstein distance (x1e3) of the snapshot to the demo data: $$(cat $$(ls -d results/*-run-metrics | tail -n 1)/metric-swd1k.txt)"

test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/python -m pytest -q -n 3 --dist worksteal tests

bench: $(STAMP)
	$(VENV)/bin/python bench/generator.py

clean:
	rm -rf $(VENV) .pytest_cache
