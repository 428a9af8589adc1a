// SPDX-License-Identifier: GPL-2.0
/*
 * Extensible ioctl arguments.
 *
 * Every tloop argument struct starts with a __u32 size.  The caller's size
 * must cover at least the first published version of the struct (today:
 * the whole struct); a larger one is accepted when the bytes the kernel
 * does not know are zero, and a size above TLOOP_UARG_MAX is -E2BIG
 * whatever the page size.  Commands are matched without their size bits so
 * a struct can grow without changing its command number; this holds for
 * every command, including those without an argument.
 */
#include <linux/errno.h>
#include <linux/ioctl.h>
#include <linux/mm.h>
#include <linux/uaccess.h>

#include "tloop_internal.h"

/* The largest struct size a caller may pass (the uapi promises 4096). */
#define TLOOP_UARG_MAX	4096

/**
 * tloop_cmd_is() - does @cmd name the same command as @want?
 * @cmd: command from user space.
 * @want: a TLOOP_* command.
 *
 * Type, number and direction must match; the size field is ignored.
 *
 * Return: true if they match.
 */
bool tloop_cmd_is(unsigned int cmd, unsigned int want)
{
	const unsigned int mask = ~(_IOC_SIZEMASK << _IOC_SIZESHIFT);

	return (cmd & mask) == (want & mask);
}

/**
 * tloop_uarg_in() - copy a size-first struct from user space.
 * @karg: kernel copy, @ksize bytes.
 * @ksize: size of the kernel's struct.
 * @uarg: user pointer.
 *
 * Return: 0, -EFAULT, -EINVAL (size too small), -E2BIG (unknown non-zero
 * tail or an absurd size).
 */
int tloop_uarg_in(void *karg, size_t ksize, const void __user *uarg)
{
	u32 usize;

	if (!uarg)
		return -EFAULT;
	if (get_user(usize, (const u32 __user *)uarg))
		return -EFAULT;
	if (usize < ksize)
		return -EINVAL;
	if (usize > TLOOP_UARG_MAX)
		return -E2BIG;
	return copy_struct_from_user(karg, ksize, uarg, usize);
}

/**
 * tloop_uarg_out() - copy a reply back over the caller's struct.
 * @uarg: user pointer (already validated by tloop_uarg_in()).
 * @karg: kernel copy.
 * @ksize: size of the kernel's struct; the caller's is at least that.
 *
 * Return: 0 or -EFAULT.
 */
int tloop_uarg_out(void __user *uarg, const void *karg, size_t ksize)
{
	return copy_to_user(uarg, karg, ksize) ? -EFAULT : 0;
}
