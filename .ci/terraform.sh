#!/usr/bin/env bash
# Checks deploy/terraform: formatting, validation against the AWS
# provider's schema, and `terraform test` (a mocked provider: no account,
# no credentials, nothing created). Terraform and the provider cannot be
# installed from the registries CI reaches, so this runs where both are
# on the machine: terraform on PATH and the provider in a filesystem
# mirror (TF_PLUGIN_MIRROR, default /opt/tf-plugins); elsewhere it says
# so and skips.
set -euo pipefail
cd "$(dirname "$0")/../deploy/terraform"

mirror="${TF_PLUGIN_MIRROR:-/opt/tf-plugins}"
if ! command -v terraform >/dev/null 2>&1 || [ ! -d "$mirror/registry.terraform.io/hashicorp/aws" ]; then
  echo "terraform checks skipped: needs terraform on PATH and the hashicorp/aws provider in $mirror"
  exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat >"$work/cli.tfrc" <<CONF
provider_installation {
  filesystem_mirror {
    path    = "$mirror"
    include = ["registry.terraform.io/hashicorp/aws"]
  }
  direct {
    exclude = ["registry.terraform.io/hashicorp/aws"]
  }
}
CONF
export TF_CLI_CONFIG_FILE="$work/cli.tfrc" TF_DATA_DIR="$work/data" TF_IN_AUTOMATION=1 CHECKPOINT_DISABLE=1

terraform version
terraform fmt -recursive -check -diff
terraform init -backend=false -input=false -lockfile=readonly -no-color >/dev/null
terraform validate -no-color
terraform test -no-color
