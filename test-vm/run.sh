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
#   VM_MEM, VM_SMP, VM_ACCEL (tcg|kvm; default: kvm only if a probe boot works),
#   VM_TCG_THREAD (single|multi; default single for 7.x kernels, see below),
#   VM_CPU (QEMU -cpu; default max,la57=off under TCG, host under KVM),
#   VM_APPEND (extra kernel arguments), TLOOP_SCALE, TLOOP_FUZZ_SEED, TLOOP_FUZZ_CALLS
#   VM_DISK     a raw disk image attached as the power-cut tests' scratch disk (virtio,
#               serial tloop-scratch; see test-vm/power.sh for its cache mode)
# A kernel directory may hold `cmdline`: arguments added for that kernel.
# Writes $OUT/vm.json: qemu exit status, whether the host timeout fired, wall seconds. The
# exit status of this script is 0 if QEMU ran at all; the verdict is test-vm/verdict.py's.
set -eu

# The whole script is one function, read before it runs: editing this file while a run
# is in progress cannot change what that run does.
main() {

	die() { echo "run.sh: $*" >&2; exit 2; }

	: "${KERNEL_DIR:?}" "${INITRD:?}" "${OUT:?}"
	MODE=${MODE:-test}
	VM_TIMEOUT=${VM_TIMEOUT:-900}
	VM_MEM=${VM_MEM:-2048}
	VM_SMP=${VM_SMP:-2}
	TLOOP_SCALE=${TLOOP_SCALE:-1}
	# The uncompressed vmlinux boots through PVH, much faster under TCG; a kernel whose vmlinux
	# does not (the debug kernel) provides a bzImage instead.
	image=$KERNEL_DIR/vmlinux
	[ -f "$image" ] || image=$KERNEL_DIR/bzImage
	[ -f "$image" ] || die "neither $KERNEL_DIR/vmlinux nor $KERNEL_DIR/bzImage exists"
	[ -f "$INITRD" ] || die "$INITRD missing"
	config=$KERNEL_DIR/config
	[ -f "$config" ] || config=$(cat "$KERNEL_DIR/kdir" 2>/dev/null)/.config
	mkdir -p "$OUT"

	# probe_kvm - "kvm" if a KVM guest really boots here (on some hosts /dev/kvm exists but
	# guests fail or hang), else "tcg". Cached per host boot.
	probe_kvm() {
		[ -r /dev/kvm ] && [ -w /dev/kvm ] || { echo tcg; return; }
		cache=${TLOOP_CACHE:-$HOME/.cache/tloop}/accel.$(cat /proc/sys/kernel/random/boot_id)
		if [ ! -f "$cache" ]; then
			mkdir -p "$(dirname "$cache")"
			rm -f "$(dirname "$cache")"/accel.*
			res=tcg rc=0
			timeout --kill-after=5 30 qemu-system-x86_64 -nodefaults -no-user-config -M pc \
				-cpu host -accel kvm -m 512 -display none -no-reboot -serial null \
				-kernel "$image" -initrd "$INITRD" \
				-append "console=ttyS0 panic=-1 tloop_mode=probe" \
				-device isa-debug-exit,iobase=0xf4,iosize=0x04 < /dev/null > /dev/null 2>&1 ||
				rc=$?
			[ "$rc" -eq $(( (42 << 1) | 1 )) ] && res=kvm
			echo "$res" > "$cache"
			echo "run.sh: KVM probe: using $res" >&2
		fi
		cat "$cache"
	}
	if [ -z "${VM_ACCEL:-}" ]; then
		VM_ACCEL=$(probe_kvm)
	fi

	# tsc_khz - the host's TSC frequency in kHz (test-vm/tsc-khz.c), cached per host boot;
	# empty if it cannot be measured. Under TCG the guest's TSC is the host's, and a guest
	# that calibrates it itself on a loaded host can get it ten times too low (seen: 174 MHz
	# for 2300 MHz, then a soft lockup "stuck for 43s" on a healthy kernel).
	tsc_khz() {
		grep -qw constant_tsc /proc/cpuinfo 2>/dev/null || return 0
		local dir=${TLOOP_CACHE:-$HOME/.cache/tloop} src
		src=$(dirname "$0")/tsc-khz.c
		local bin=$dir/tsc-khz.bin val=$dir/tsc-khz.$(cat /proc/sys/kernel/random/boot_id)
		mkdir -p "$dir"
		if [ ! -s "$val" ]; then
			if [ ! -x "$bin" ] || [ "$src" -nt "$bin" ]; then
				gcc -std=c11 -O2 -o "$bin.$$" "$src" >&2 && mv "$bin.$$" "$bin" || return 0
			fi
			"$bin" > "$val.$$" 2>/dev/null && mv "$val.$$" "$val" || {
				rm -f "$val.$$"
				echo "run.sh: could not measure the host's TSC frequency; the guest calibrates it" >&2
				return 0
			}
		fi
		cat "$val"
	}
	# QEMU's `max` CPU offers 5-level paging (LA57), and Debian's kernels then use it. The KASAN
	# kernel (6.12-debug) then dies before /init in about one boot of 15 under load: KASAN
	# "wild-memory-access" in do_raw_spin_lock from an interrupt during identify_cpu. Cause
	# (6.12 source): identify_cpu() zeroes boot_cpu_data.x86_capability with interrupts on;
	# until CPUID is read again, pgtable_l5_enabled() (cpu_feature_enabled(X86_FEATURE_LA57))
	# is false, so KASAN's shadow bounds are those of 4-level paging and an access to a 5-level
	# direct-map address (ff11...) from an interrupt in that window looks wild. A kernel bug
	# outside tloop; few real hosts have LA57 and tloop does not depend on it, so it is off
	# unless VM_CPU asks for it (`make boot-check` measures boot reliability).
	cpu=${VM_CPU:-max,la57=off}
	[ "$VM_ACCEL" = kvm ] && cpu=${VM_CPU:-host}

	# Crashes must end the VM, warnings must crash it, and they must reach the console.
	# The demo is read by people: kernel messages below warning level stay off its console.
	loglevel=7
	[ "$MODE" = demo ] && loglevel=5
	append="console=ttyS0,115200 loglevel=$loglevel printk.time=1 panic=-1 oops=panic panic_on_warn=1"
	append="$append softlockup_panic=1 hung_task_panic=1 tloop_mode=$MODE tloop_scale=$TLOOP_SCALE"
	if grep -q '^CONFIG_KFENCE=y' "$config" 2>/dev/null; then
		append="$append kfence.sample_interval=10"
	fi
	if [ "$VM_ACCEL" = tcg ]; then
		khz=$(tsc_khz)
		[ -z "$khz" ] || append="$append tsc_early_khz=$khz"
	fi
	[ -f "$KERNEL_DIR/cmdline" ] && append="$append $(cat "$KERNEL_DIR/cmdline")"
	append="$append ${VM_APPEND:-}"
	# The ioctl fuzzer's knobs (tests/42-track-fuzz.c) reach the tests' environment. On a
	# KASAN kernel each call costs 10-20 times more: 20000 calls (x TLOOP_SCALE) by default
	# there instead of 100000, so that the debug kernel's run stays within minutes.
	if [ -z "${TLOOP_FUZZ_CALLS:-}" ] && grep -q '^CONFIG_KASAN=y' "$config" 2>/dev/null; then
		TLOOP_FUZZ_CALLS=$((20000 * TLOOP_SCALE))
	fi
	for v in TLOOP_FUZZ_SEED TLOOP_FUZZ_CALLS; do
		[ -n "${!v:-}" ] && append="$append $v=${!v}"
	done

	# Debian's 7.x kernel under multi-threaded TCG (QEMU 7.2) sometimes dies before /init right
	# after "sched_clock: Marking stable": "Oops: int3" in sched_clock_cpu on the other vCPU.
	# The static-key patch (text_poke_bp) had finished, but that vCPU still ran a translation
	# holding the temporary int3: a cross-modifying-code race of multi-threaded TCG, outside
	# tloop (the module is not loaded yet), seen in about one boot of 30-100. Single-threaded
	# TCG runs the vCPUs in turn on one host thread, so both see a patch at once; it costs
	# parallelism inside the guest, so it is the default only where the race was seen, and
	# for every kernel's power-cut boots (test-vm/power.sh), where it was seen on 6.12 too.
	# VM_TCG_THREAD=single|multi overrides.
	accel=$VM_ACCEL
	if [ "$VM_ACCEL" = tcg ]; then
		thread=${VM_TCG_THREAD:-}
		if [ -z "$thread" ]; then
			case $(cat "$KERNEL_DIR/release" 2>/dev/null) in
			7.*) thread=single ;;
			*) thread=multi ;;
			esac
		fi
		accel="tcg,thread=$thread"
	fi

	qemu=(qemu-system-x86_64 -nodefaults -no-user-config -M pc -cpu "$cpu" -accel "$accel"
		-m "$VM_MEM" -smp "$VM_SMP" -display none -no-reboot
		-kernel "$image" -initrd "$INITRD" -append "$append")

	# The scratch disk of a power-cut test (test-vm/power.sh). The guest sees a volatile
	# write cache (write-cache=on: it sends flushes, which QEMU turns into fdatasync of the
	# image); cache=writeback keeps the image in the host's page cache. What the guest
	# submitted before a reset is written to the image (QEMU drains it), whether flushed
	# or not: only the guest's own caches are lost at a cut (tests/README.md).
	if [ -n "${VM_DISK:-}" ]; then
		[ -f "$VM_DISK" ] || die "scratch disk image $VM_DISK missing"
		# No ACPI PCI hotplug on the root bus: with a device in a slot, the KASAN kernel spent
		# over 20 s in that AML at boot on a loaded host (a soft lockup, in ACPI init).
		qemu+=(-drive "file=$VM_DISK,if=none,id=scratch,format=raw,cache=writeback,aio=threads"
			-device "virtio-blk-pci,drive=scratch,serial=tloop-scratch,write-cache=on"
			-global PIIX4_PM.acpi-root-pci-hotplug=off)
	fi

	rm -f "$OUT/console.log" "$OUT/results.ktap" "$OUT/vm.json" "$OUT/verdict.json"
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

	# Progress: the runner's line for each finished test, as it happens (VM_PROGRESS=0: quiet).
	progress=
	if [ "$MODE" = test ] && [ "${VM_PROGRESS:-1}" = 1 ]; then
		: > "$OUT/console.log"
		# In its own process group, so that both ends of the pipe can be stopped together.
		setsid sh -c 'tail -n +1 -F "$1" 2>/dev/null |
			sed -un "s/^tloop-init: \(\[[0-9]*\/[0-9]*\] [^ ].*: .*\)\$/  \1/p"' \
			- "$OUT/console.log" &
		progress=$!
	fi

	set +e
	timeout --kill-after=10 "$VM_TIMEOUT" "${qemu[@]}" "${console[@]}" \
		-serial "file:$OUT/results.ktap" -device isa-debug-exit,iobase=0xf4,iosize=0x04 \
		< /dev/null
	status=$?
	set -e
	if [ -n "$progress" ]; then
		sleep 0.3
		kill -TERM -- "-$progress" 2>/dev/null || true
		wait "$progress" 2>/dev/null || true
	fi
	end=$(date +%s.%N)
	timed_out=false
	# timeout(1) says 124 when it had to kill (137 when even SIGTERM did not work).
	if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
		timed_out=true
	fi
	cat > "$OUT/vm.json" <<-EOF
	{"qemu_status": $status, "timed_out": $timed_out, "timeout": $VM_TIMEOUT,
	 "seconds": $(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }'), "release": "$(cat "$KERNEL_DIR/release")",
	 "mode": "$MODE", "accel": "$VM_ACCEL"}
	EOF
}

main "$@"
exit
