#!/usr/bin/env bash
# Generated from evals/cases/strip-scheduler-tcd/case.yaml by `diffusers-integrator eval export-plugin --write`.
# Lays the case's starting tree (a git repository) in the run's working folder.
set -euo pipefail
: "${DIFFUSERS_CLONE:?set DIFFUSERS_CLONE to a diffusers git clone: this case starts from upstream}"
diffusers-integrator eval tree strip-scheduler-tcd --into "$PWD"
