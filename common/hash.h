/* SPDX-License-Identifier: MIT */
/* A fast 64-bit hash of the daemon's own bytes (never a defence against a chosen collision). */
#pragma once

#include <stddef.h>
#include <stdint.h>

/*
 * 32 bytes a round in four lanes of eight, folded into one, then the tail eight bytes a step.
 * Each step is a bijection of its state for a given word and of the word for a given state, so
 * two inputs of one length that differ in a single word never collide; the length is mixed in
 * first. Stored in .iscsi-ifaced/start-prints: a change of it changes that file's version.
 */
uint64_t hash64(const void *p, size_t n);
