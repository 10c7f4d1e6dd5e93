# Mammatus: the two commands a newcomer needs.
#   make up    bootstrap, then `pulumi up` of the dev stack (the cloud in a box on this machine)
#   make test  bootstrap, then every test (unit, integration with real daemons, e2e with the CLI)
.PHONY: bootstrap system up preview destroy test unit lock

bootstrap:
	@tools/bootstrap

system:
	@tools/setup/system.sh

up: bootstrap system
	@bin/pulumi stack select --create dev >/dev/null
	bin/pulumi up --yes --stack dev

preview: bootstrap
	bin/pulumi preview --stack $(or $(STACK),dev)

destroy: bootstrap
	bin/pulumi destroy --yes --stack $(or $(STACK),dev)

test: bootstrap system
	.venv/bin/python -m pytest $(PYTEST_ARGS)

unit: bootstrap
	.venv/bin/python -m pytest tests/unit $(PYTEST_ARGS)

# Re-pin Python dependencies after editing requirements.in (needs uv: pip install uv).
lock:
	uv pip compile --generate-hashes --python-version 3.11 --universal requirements.in -o requirements.lock
