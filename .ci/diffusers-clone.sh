# Sourced by .ci/run (a developer may source it too): a real diffusers clone for the clone-backed tests, from the
# `git archive` of upstream's main in shared/ (../shared/diffusers/README.md), unpacked into a temp folder and
# committed, then exported as DIFFUSERS_CLONE. A DIFFUSERS_CLONE already set (your own clone) is kept.
if [ -z "${DIFFUSERS_CLONE:-}" ]; then
    DI_CLONE_ARCHIVE="${DI_CLONE_ARCHIVE:-../shared/diffusers/diffusers-main-58eb52c080.tar.gz}"
    if [ ! -f "$DI_CLONE_ARCHIVE" ]; then
        echo "error: no $DI_CLONE_ARCHIVE; set DIFFUSERS_CLONE to a diffusers git clone instead" >&2
        return 1
    fi
    DI_CLONE_DIR=$(mktemp -d /tmp/di-clone.XXXXXX)
    tar -xzf "$DI_CLONE_ARCHIVE" -C "$DI_CLONE_DIR"
    git -C "$DI_CLONE_DIR/diffusers" init -q -b main
    git -C "$DI_CLONE_DIR/diffusers" add -A
    git -C "$DI_CLONE_DIR/diffusers" -c user.name=ci -c user.email=ci@localhost commit -qm "$(basename "$DI_CLONE_ARCHIVE" .tar.gz)"
    export DIFFUSERS_CLONE="$DI_CLONE_DIR/diffusers"
fi
echo "diffusers clone for the clone-backed tests: DIFFUSERS_CLONE=$DIFFUSERS_CLONE"
