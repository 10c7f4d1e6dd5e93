# Mammatus: the two commands a newcomer needs.
#   make up    bootstrap, then `pulumi up` of the dev stack (the cloud in a box on this machine)
#   make test  bootstrap, then every test (unit, integration with real daemons, e2e with the CLI)
.PHONY: bootstrap bootstrap-arm64 system up preview destroy test unit lint lock

bootstrap:
	@tools/bootstrap

# Also the arm64 builds the Delivery layer puts on ARM hosts (the home stack's storage boards).
bootstrap-arm64:
	@tools/bootstrap --arch arm64

system:
	@tools/setup/system.sh

# Applied straight away: with --yes a preview pass first would run the whole program once more
# for a plan nobody reads (`make preview` shows it). A bad config still fails before any resource.
up: bootstrap system
	@bin/pulumi stack select --create dev >/dev/null
	bin/pulumi up --yes --skip-preview --stack dev

preview: bootstrap-arm64
	bin/pulumi preview --stack $(or $(STACK),dev)

destroy: bootstrap
	bin/pulumi destroy --yes --stack $(or $(STACK),dev)

test: bootstrap-arm64 system
	.venv/bin/python -m pytest $(PYTEST_ARGS)

lint: bootstrap
	.venv/bin/ruff check .

unit: bootstrap
	.venv/bin/python -m pytest tests/unit $(PYTEST_ARGS)

# Re-pin Python dependencies after editing requirements.in (needs uv: pip install uv).
lock:
	uv pip compile --generate-hashes --python-version 3.11 --universal requirements.in -o requirements.lock
	uv pip compile --generate-hashes --python-version 3.11 --universal -c requirements.lock \
	  requirements-services.in -o requirements-services.lock
