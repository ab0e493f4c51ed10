# syntax=docker/dockerfile:1
# GenOps operator image. The product is TypeScript run directly by Node 24 (type stripping, no build
# step), so the builder stage only installs the production dependencies; the runtime stage is
# node:24-slim with the application files, running as a non-root user with a read-only root filesystem.
#   docker build -t ghcr.io/genops-ai/genops-operator:0.1.0 .

ARG NODE_IMAGE=node:24-slim

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# --omit=dev leaves out the test tools and the `node` devDependency (the image has its own Node 24);
# no production dependency needs an install script.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm cache clean --force

FROM ${NODE_IMAGE}
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY cmd ./cmd
COPY kernel ./kernel
COPY crds ./crds
COPY cluster ./cluster
COPY pipeline ./pipeline
COPY decision ./decision
COPY enforcer ./enforcer
COPY webhook ./webhook
COPY observability ./observability
COPY authz ./authz
# 65532 is the conventional "nonroot" id; the Deployment sets the same (runAsNonRoot needs a numeric user).
USER 65532:65532
EXPOSE 4317 4318 8080 8081 9191 9443
ENTRYPOINT ["node", "cmd/genops.ts"]
CMD ["operator"]
