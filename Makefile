# Make targets named in the project's docs; each is a thin alias of an npm script.
IMG ?= genops/genops-controller:dev

.PHONY: test test-unit test-integration test-e2e docker-build deploy undeploy bench

test:
	npm test

test-unit:
	npm run test:unit

test-integration:
	npm run test:integration

# The end-to-end suite is the integration project: real etcd, kube-apiserver and kube-controller-manager.
test-e2e:
	npm run test:integration

bench:
	npm run bench

docker-build:
	docker build -t $(IMG) .

deploy:
	kubectl apply -k config/default
	kubectl -n genops-system set image deployment/genops-controller-manager manager=$(IMG)

undeploy:
	kubectl delete -k config/default --ignore-not-found
