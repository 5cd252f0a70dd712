# kiln worker image: Node 20 on Debian, with the pinned Go tools built at image build time.
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
CMD ["sh", "-c", "scripts/setup && exec npm run worker"]
