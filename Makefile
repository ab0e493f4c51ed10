# Make targets named in the project's docs; each is a thin alias of an npm script.
IMG ?= genops/genops-controller:dev

.PHONY: test test-unit test-integration test-e2e docker-build deploy undeploy bench

test:
	npm test

test-unit:
	npm run test:unit

test-integration:
	npm run test:integration

# The end-to-end tier: the operator image run as pods on a real node (containerd, kubelet, kube-proxy),
# with a real GenAI application (test/e2e, docs/testing.md). Needs root.
test-e2e:
	npm run test:e2e

bench:
	npm run bench

docker-build:
	docker build -t $(IMG) .

deploy:
	kubectl apply -k config/default
	kubectl -n genops-system set image deployment/genops-controller-manager manager=$(IMG)

undeploy:
	kubectl delete -k config/default --ignore-not-found
