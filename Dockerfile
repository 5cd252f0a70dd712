# kiln worker image: Node 20 on Debian, with the pinned Go tools a worker runs (Temporal CLI, melange,
# apko) built at image build time. cosign is left out: only the tests run it.
# Keys and the bootstrap repository are made at container start into the KILN_STATE volume, so no
# key is ever baked into an image layer.
FROM node:20-bookworm
COPY --from=golang:1.26-bookworm /usr/local/go /usr/local/go
ENV PATH=/usr/local/go/bin:$PATH \
    KILN_TOOLS_DIR=/opt/kiln/tools \
    KILN_STATE=/var/lib/kiln
WORKDIR /app
COPY . .
RUN scripts/setup --tools-only && npm run build:bundle
CMD ["sh", "-c", "scripts/setup --worker && exec npm run worker"]
