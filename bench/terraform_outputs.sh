#!/usr/bin/env bash
# How long reading Terraform outputs (`tf.*`) takes for one `wharf render`: with the terraform
# binary (`terraform output -json`), and without one, from the workspace's local state file.
# A configuration with 20 outputs and no provider, applied with the test bed's Terraform 1.0.3.
#   bench/terraform_outputs.sh        (needs scripts/testbed install; no AWS calls are made)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export CARGO_TARGET_DIR="${WHARF_RELEASE_TARGET:-$HOME/.cache/wharf/target-release}"
command -v hyperfine >/dev/null || apt-get install -y -q hyperfine >/dev/null
cargo build --release --quiet
wharf="$CARGO_TARGET_DIR/release/wharf"
# The machine's Terraform (1.11; the test bed's venv no longer carries one).
TF_BIN="$(dirname "$(command -v terraform || echo /usr/local/bin/terraform)")"
[ -x "$TF_BIN/terraform" ] || { echo "no Terraform on PATH (every machine of this kind has 1.11 in /usr/local/bin)" >&2; exit 1; }
dir="$(mktemp -d)"; trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir/infra"
{
  for i in $(seq 1 20); do printf 'output "o%s" {\n  value = "value-%s"\n}\n\n' "$i" "$i"; done
  printf 'variable "app_tag" {\n  type    = string\n  default = "x"\n}\n'
} > "$dir/infra/main.tf"
cat > "$dir/wharf.toml" <<'TOML'
app = "bench"
[terraform]
dir = "infra"
[environments.dev]
region = "us-east-1"
account = "123456789012"
[services.web]
task_definition = "web.json"
TOML
echo '{"family": "bench-web", "containerDefinitions": [{"name": "web", "image": "busybox", "memory": 64, "environment": [{"name": "A", "value": "{{ tf.o1 }}"}, {"name": "B", "value": "{{ tf.o20 }}"}]}]}' > "$dir/web.json"
export TF_CLI_CONFIG_FILE=/dev/null AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=x AWS_EC2_METADATA_DISABLED=true
cd "$dir"
PATH="$TF_BIN:/usr/bin:/bin" "$wharf" env create dev >/dev/null 2>&1
PATH="$TF_BIN:/usr/bin:/bin" "$wharf" apply --env dev --yes --no-wait >/dev/null 2>&1
hyperfine --warmup 3 --runs 30 -N --export-markdown /dev/stdout \
    -n "render, outputs via terraform output -json" "env PATH=$TF_BIN:/usr/bin:/bin $wharf render web --env dev" \
    -n "render, outputs from the local state file" "env PATH=/usr/bin:/bin $wharf render web --env dev" \
    -n "render --offline (no outputs)" "env PATH=/usr/bin:/bin $wharf render web --env dev --offline" 2>/dev/null | grep '^|'
