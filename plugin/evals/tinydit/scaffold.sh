#!/usr/bin/env bash
# Generated from evals/cases/tinydit/case.yaml by `diffusers-integrator eval export-plugin --write`.
# Lays the case's starting tree (a git repository) in the run's working folder.
set -euo pipefail
diffusers-integrator eval tree tinydit --into "$PWD"
