#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# test-vm/run.sh - boot one kernel under QEMU with an initramfs and collect what the
# verdict needs. Options (environment):
#   KERNEL_DIR  $(TLOOP_CACHE)/kernels/<name> (vmlinux, release, config)
#   INITRD      the concatenated initramfs
#   OUT         output directory: console.log, results.ktap, qemu.status, vm.json
#   MODE        test | demo | vm (the guest's tloop.mode)
#   VM_TIMEOUT  seconds before the host kills the VM (test and demo modes)
#   VM_MEM, VM_SMP, VM_ACCEL (tcg|kvm), VM_APPEND (extra kernel arguments), TLOOP_SCALE
# Writes $OUT/vm.json: qemu exit status, whether the host timeout fired, wall seconds. The
# exit status of this script is 0 if QEMU ran at all; the verdict is test-vm/verdict.py's.
set -eu

die() { echo "run.sh: $*" >&2; exit 2; }

: "${KERNEL_DIR:?}" "${INITRD:?}" "${OUT:?}"
MODE=${MODE:-test}
VM_TIMEOUT=${VM_TIMEOUT:-900}
VM_MEM=${VM_MEM:-2048}
VM_SMP=${VM_SMP:-2}
VM_ACCEL=${VM_ACCEL:-tcg}
TLOOP_SCALE=${TLOOP_SCALE:-1}
[ -f "$KERNEL_DIR/vmlinux" ] || die "$KERNEL_DIR/vmlinux missing"
[ -f "$INITRD" ] || die "$INITRD missing"
mkdir -p "$OUT"

# Crashes must end the VM, warnings must crash it, and they must reach the console.
append="console=ttyS0,115200 loglevel=7 printk.time=1 panic=-1 oops=panic panic_on_warn=1"
append="$append softlockup_panic=1 hung_task_panic=1 tloop_mode=$MODE tloop_scale=$TLOOP_SCALE"
if grep -q '^CONFIG_KFENCE=y' "$KERNEL_DIR/config" 2>/dev/null; then
	append="$append kfence.sample_interval=10"
fi
append="$append ${VM_APPEND:-}"

qemu=(qemu-system-x86_64 -nodefaults -no-user-config -M pc -cpu max -accel "$VM_ACCEL"
	-m "$VM_MEM" -smp "$VM_SMP" -display none -no-reboot
	-kernel "$KERNEL_DIR/vmlinux" -initrd "$INITRD" -append "$append")

rm -f "$OUT/console.log" "$OUT/results.ktap" "$OUT/vm.json"
start=$(date +%s.%N)
case $MODE in
vm)
	# Interactive: console on this terminal (Ctrl-A X also quits QEMU).
	exec "${qemu[@]}" -serial mon:stdio -device isa-debug-exit,iobase=0xf4,iosize=0x04
	;;
demo)
	console=(-chardev "stdio,id=con,signal=off,logfile=$OUT/console.log" -serial chardev:con)
	;;
*)
	console=(-serial "file:$OUT/console.log")
	;;
esac

set +e
timeout --kill-after=10 "$VM_TIMEOUT" "${qemu[@]}" "${console[@]}" \
	-serial "file:$OUT/results.ktap" -device isa-debug-exit,iobase=0xf4,iosize=0x04 \
	< /dev/null
status=$?
set -e
end=$(date +%s.%N)
timed_out=false
# timeout(1) says 124 when it had to kill (137 when even SIGTERM did not work).
if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
	timed_out=true
fi
cat > "$OUT/vm.json" <<EOF
{"qemu_status": $status, "timed_out": $timed_out, "timeout": $VM_TIMEOUT,
 "seconds": $(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }'), "release": "$(cat "$KERNEL_DIR/release")",
 "mode": "$MODE"}
EOF
