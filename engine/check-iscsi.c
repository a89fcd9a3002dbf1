/* SPDX-License-Identifier: MIT */
/*
 * The iscsi step of a check (docs/checks.md): a SendTargets discovery session, then optionally a
 * login to one target and its logout, through libiscsi's async API on a socket bound to the
 * iface's NIC, which is verified on the socket after the connect.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <iscsi/iscsi.h>

#include "check-internal.h"

static void iscsi_cb(struct iscsi_context *iscsi, int status, void *command_data, void *private)
{
        struct check *c = private;

        (void)iscsi;
        if (c->iscsi_closing)
                return;
        c->iscsi_cb_status = status == SCSI_STATUS_GOOD ? 0 : 1;
        c->iscsi_got_reply = true;

        if (status == SCSI_STATUS_GOOD && c->iscsi_stage == ISCSI_DISCOVERY && command_data) {
                const struct iscsi_discovery_address *da = command_data;
                size_t n = 0;

                for (const struct iscsi_discovery_address *d = da; d; d = d->next)
                        n++;
                c->res.targets = calloc(n, sizeof(*c->res.targets));
                if (!c->res.targets)
                        return;
                for (const struct iscsi_discovery_address *d = da; d; d = d->next) {
                        struct check_target *t = &c->res.targets[c->res.n_targets++];
                        size_t np = 0;

                        t->name = strdup(d->target_name ?: "");
                        for (const struct iscsi_target_portal *p = d->portals; p; p = p->next)
                                np++;
                        t->portals = calloc(np ?: 1, sizeof(char *));
                        for (const struct iscsi_target_portal *p = d->portals; p && t->portals;
                             p = p->next)
                                t->portals[t->n_portals++] = strdup(p->portal ?: "");
                }
        }
}

void check_iscsi_close(struct check *c)
{
        if (!c->iscsi)
                return;
        c->iscsi_closing = true;
        iscsi_destroy_context(c->iscsi);
        c->iscsi = NULL;
        c->iscsi_closing = false;
        c->fd = -1;
        c->events = 0;
}

static void iscsi_fail(struct check *c, enum check_reason reason, const char *fmt, ...)
        _printf_(3, 4);

static void iscsi_fail(struct check *c, enum check_reason reason, const char *fmt, ...)
{
        char hint[CHECK_HINT_MAX];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(hint, sizeof(hint), fmt, ap);
        va_end(ap);
        if (c->iscsi_normal)
                c->res.login_status = CHECK_FAILED;
        check_step_set(c, CHECK_STEP_ISCSI, CHECK_FAILED, reason, "%s", hint);
        check_iscsi_close(c);
}

/* Classify what libiscsi reports for a failed stage. */
static void iscsi_failed_stage(struct check *c, const char *what)
{
        const char *err = c->iscsi ? iscsi_get_error(c->iscsi) : NULL;
        char msg[160];

        /* libiscsi's text goes into a hint: keep it printable and short. */
        snprintf(msg, sizeof(msg), "%s", err ?: "");
        for (char *p = msg; *p; p++)
                if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
                        *p = '?';

        if (c->iscsi_stage == ISCSI_CONNECT) {
                if (strstr(msg, "refused"))
                        iscsi_fail(c, CHECK_REASON_REFUSED, "%s: %s", what, msg);
                else if (strstr(msg, "unreachable"))
                        iscsi_fail(c, CHECK_REASON_UNREACHABLE, "%s: %s", what, msg);
                else
                        iscsi_fail(c, CHECK_REASON_ERROR, "%s: %s", what, msg);
                return;
        }
        if (strstr(msg, "Authentication") || strstr(msg, "Authorization") || strstr(msg, "CHAP"))
                iscsi_fail(c, CHECK_REASON_AUTH_FAILED, "%s: %s; check the CHAP user and secret%s",
                           what, msg, c->spec.chap.username_in[0] ? " (and the mutual ones)" : "");
        else if (strstr(msg, "Status:"))
                iscsi_fail(c, CHECK_REASON_LOGIN_FAILED, "%s: %s", what, msg);
        else if (!c->iscsi_normal && c->iscsi_stage == ISCSI_LOGIN)
                iscsi_fail(c, CHECK_REASON_NOT_ISCSI,
                           "the port accepts TCP connections but does not answer an iSCSI login "
                           "(it closed the connection or sent something else): is this the "
                           "portal's iSCSI port?");
        else
                iscsi_fail(c, CHECK_REASON_ERROR, "%s: %s", what, msg);
}

static int iscsi_open(struct check *c, bool normal)
{
        const char *iname =
                !isempty(c->spec.initiatorname) ? c->spec.initiatorname : c->k->initiator_name;
        const struct check_chap *chap = normal ? &c->spec.chap : &c->spec.discovery_chap;
        bool has_chap = normal ? c->spec.has_chap : c->spec.has_discovery_chap;
        char portal[INET6_ADDRSTRLEN + 8];

        c->iscsi_normal = normal;
        c->iscsi = iscsi_create_context(iname);
        if (!c->iscsi) {
                iscsi_fail(c, CHECK_REASON_ERROR, "cannot create a libiscsi context");
                return -ENOMEM;
        }
        (void)iscsi_set_timeout(c->iscsi, 0); /* the check's deadline is ours */
        if (normal) {
                (void)iscsi_set_session_type(c->iscsi, ISCSI_SESSION_NORMAL);
                (void)iscsi_set_targetname(c->iscsi, c->spec.target);
        } else
                (void)iscsi_set_session_type(c->iscsi, ISCSI_SESSION_DISCOVERY);
        (void)iscsi_set_header_digest(c->iscsi, ISCSI_HEADER_DIGEST_NONE_CRC32C);
        if (has_chap) {
                (void)iscsi_set_initiator_username_pwd(c->iscsi, chap->username, chap->password);
                if (chap->username_in[0])
                        (void)iscsi_set_target_username_pwd(c->iscsi, chap->username_in,
                                                            chap->password_in);
        }
        if (c->dev[0])
                (void)iscsi_set_bind_interfaces(c->iscsi, c->dev);

        check_format_portal(&c->spec.portal, portal, sizeof(portal));
        c->iscsi_stage = ISCSI_CONNECT;
        c->iscsi_got_reply = false;
        if (iscsi_connect_async(c->iscsi, portal, iscsi_cb, c) != 0) {
                iscsi_failed_stage(c, "connect");
                return -EIO;
        }
        c->fd = iscsi_get_fd(c->iscsi);
        c->events = (short)iscsi_which_events(c->iscsi);
        return 0;
}

/* A libiscsi callback came: move to the next stage. */
static void iscsi_advance(struct check *c)
{
        int r = 0;

        c->iscsi_got_reply = false;
        /* A failed logout still ends a good check: the target may just close the connection. */
        if (c->iscsi_cb_status != 0 && c->iscsi_stage != ISCSI_LOGOUT) {
                static const char *const names[] = {
                        [ISCSI_CONNECT] = "connect",
                        [ISCSI_LOGIN] = "login",
                        [ISCSI_DISCOVERY] = "SendTargets",
                        [ISCSI_LOGOUT] = "logout",
                        [ISCSI_FINISHED] = "",
                };

                iscsi_failed_stage(c, names[c->iscsi_stage]);
                return;
        }

        switch (c->iscsi_stage) {
        case ISCSI_CONNECT:
                if (!check_verify_bind(c, CHECK_STEP_ISCSI, iscsi_get_fd(c->iscsi))) {
                        check_iscsi_close(c);
                        return;
                }
                c->iscsi_stage = ISCSI_LOGIN;
                r = iscsi_login_async(c->iscsi, iscsi_cb, c);
                break;
        case ISCSI_LOGIN:
                if (c->iscsi_normal) {
                        c->res.login_status = CHECK_OK;
                        c->iscsi_stage = ISCSI_LOGOUT;
                        r = iscsi_logout_async(c->iscsi, iscsi_cb, c);
                } else {
                        c->iscsi_stage = ISCSI_DISCOVERY;
                        r = iscsi_discovery_async(c->iscsi, iscsi_cb, c);
                }
                break;
        case ISCSI_DISCOVERY:
                c->iscsi_stage = ISCSI_LOGOUT;
                r = iscsi_logout_async(c->iscsi, iscsi_cb, c);
                break;
        case ISCSI_LOGOUT:
        case ISCSI_FINISHED:
                check_iscsi_close(c);
                if (!c->iscsi_normal && c->spec.target[0]) {
                        (void)iscsi_open(c, true);
                        return;
                }
                check_step_set(c, CHECK_STEP_ISCSI, CHECK_OK, CHECK_REASON_NONE, NULL);
                return;
        }
        if (r != 0) {
                iscsi_failed_stage(c, "request");
                return;
        }
        c->fd = iscsi_get_fd(c->iscsi);
        c->events = (short)iscsi_which_events(c->iscsi);
}

void check_iscsi_event(struct check *c, short revents)
{
        if (iscsi_service(c->iscsi, revents) < 0) {
                if (!c->iscsi_got_reply) {
                        /* The target closing the connection after a logout is fine. */
                        c->iscsi_cb_status = 1;
                        iscsi_advance(c);
                        return;
                }
        }
        while (c->iscsi && c->iscsi_got_reply &&
               c->res.steps[CHECK_STEP_ISCSI].status == CHECK_PENDING)
                iscsi_advance(c);
        if (c->iscsi) {
                c->fd = iscsi_get_fd(c->iscsi);
                c->events = (short)iscsi_which_events(c->iscsi);
        }
}

int check_iscsi_start(struct check *c)
{
        return iscsi_open(c, false);
}
