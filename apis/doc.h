/* api_doc: the typed document stored under each kind of Corral key, decoded
 * once from its JSON value (the etcd contract's second half; the keys are
 * in keys.h).
 *
 *   kind                    doc type
 *   API_KEY_REQUEST         api_request        (request.h)
 *   API_KEY_DEPLOY          api_deploy         (deploy.h)
 *   API_KEY_RUN             api_run            (run.h)
 *   API_KEY_SOURCE          api_source         (source.h)
 *   API_KEY_TASK            api_task           (task.h)
 *   API_KEY_PENDING         api_pending_task   (task.h)
 *   API_KEY_CLEANUP         api_cleanup        (task.h)
 *   API_KEY_REQUEST_STATUS  api_request_status (status.h)
 *   API_KEY_DEPLOY_STATUS   api_deploy_status  (status.h)
 *   API_KEY_JOB_STATUS      api_job_status     (status.h)
 *   API_KEY_RUN_STATUS      api_run_status     (status.h)
 *   API_KEY_PENDING_STATUS  api_place_reason   (status.h)
 *   API_KEY_FRAMEWORK_STATUS api_framework_status (status.h)
 *   API_KEY_INTENT_REQUEST, API_KEY_INTENT_DEPLOY,
 *   API_KEY_INTENT_AGENT, API_KEY_INTENT_RACK, API_KEY_INACTIVE_HOST
 *                           api_intent         (intent.h)
 *   API_KEY_AGENT, API_KEY_RACK
 *                           api_machine        (machine.h)
 *   API_KEY_AUTH_TOKEN      api_token          (token.h)
 *   API_KEY_WEBHOOK         api_webhook        (webhook.h)
 *   API_KEY_WEBHOOK_STATUS  api_webhook_status (webhook.h)
 *   API_KEY_WEBHOOK_EVENT   api_webhook_event  (webhook.h)
 *   every other kind        none: readers use the JSON value
 *   (API_KEY_HISTORY_TASK, a task record moved to history, is read as JSON
 *   by the API only, and has none.)
 *   (API_KEY_FRAMEWORK has none here: its one reader, the Mesos bridge,
 *   reads it fresh from etcd and decodes it strictly with
 *   api_framework_from_json, status.h, as a document that does not decode
 *   must stop the bridge rather than read as absent.)
 *
 * Every document is checked against its key too: the ids the key names
 * must follow their rules (apis/common.h) and equal the ids the document
 * repeats (a request under requests/web whose "id" is "api", a task record
 * under tasks/web/<t1> whose taskId is <t2>), and an intent must hold what
 * its kind needs (api_intent_validate).
 *
 * Documents people write (requests, deploys, runs) are decoded leniently
 * (unknown fields kept, no validation) so every reader can see what was
 * written; when the strict decode (unknown fields refused, validated) or
 * the key check finds problems, they are reported as the error next to the
 * lenient document. Readers treat a document with an error as invalid: the
 * controllers say why in its status and otherwise skip it. Documents
 * programs write (tasks, statuses, intents, ...) are decoded once, keeping
 * unknown fields (a newer writer may add some); one that does not decode or
 * does not match its key has no document and the error says why: for every
 * reader it is not there (an intent that does not decode asks for nothing). */
#ifndef API_DOC_H
#define API_DOC_H

#include <stdbool.h>

#include <jansson.h>

#include "apis/keys.h"

/* Whether documents of kind have a typed form. */
bool api_doc_typed(api_key_kind kind);

/* Whether values of kind are held as their text, not as a JSON tree, once
 * decoded (store/cache.h): task records and their history, the kinds that
 * grow with the number of tasks. A task record is ~2 KB of text and ~20 KB
 * as a jansson tree, half of it the TaskInfo. */
bool api_doc_text(api_key_kind kind);

/* Whether a value of kind is held as its text, not as a JSON tree, when
 * its document decodes with no problem, no object in it repeats a key and
 * api_doc_faithful holds (store/cache.h): request statuses, one per
 * request, ~0.9 KB of text and ~7.4 KB as a jansson tree; pending tasks,
 * one per task waiting for an offer (10,000 while 10,000 tasks launch),
 * ~0.2 KB of text and ~1.5 KB as a tree; requests and deploys, one or
 * a few per request, which people write (the API stores what
 * api_request_to_json / api_deploy_to_json write; GitOps and etcdctl
 * write anything); and deploy statuses, one per deploy (~0.3 KB of text,
 * ~2.7 KB as a tree); and agents and racks, one per machine, which the
 * bridge writes (~0.4 KB of text, ~6 KB as a tree: 30 MB for 5,000
 * agents). Their readers read the typed document; the API reads
 * the members it shows from the text (apis/jtext.h) and parses it when it
 * needs a tree. A value that does not decode keeps its tree, so a reader
 * can still show it as written. */
bool api_doc_text_when_valid(api_key_kind kind);

/* For a kind of api_doc_text_when_valid, whose document doc decoded from
 * j with no problem: whether the fields readers take from the document
 * are what they would read of j's tree, so that the tree may go.
 *   - A request status's are.
 *   - A pending task's are when its pendingTaskId is an object that names
 *     its "id" (as every writer writes it): then its id, request, deploy,
 *     nextRunAt, instanceNo, pendingType and createdAt, and the strings
 *     beside it (runId, user, message, ...), are the tree's. One whose
 *     pendingTaskId is an id string, or an object without "id", decodes
 *     too, but its tree has no such object or member, so it keeps its tree.
 *   - A request's, a deploy's, a deploy status's or a machine's are when
 *     its canonical encoding (api_request_to_json, api_deploy_to_json,
 *     api_deploy_status_to_json, api_machine_to_json) equals j as JSON values (json_equal: the
 *     same members, types and values; key order and whitespace aside):
 *     then every member of the tree is a field of the document under its
 *     own name, with the tree's type (an integer, not 1.0; requestType
 *     written, not derived; no deprecated alias, no null the encoder
 *     leaves out, every counter a status writes). What the API and the
 *     controllers store always is. The text stays byte for byte beside
 *     the document, so a request is still shown as written.
 * False when doc is NULL or j is not an object. */
bool api_doc_faithful(api_key_kind kind, const void *doc, const json_t *j);

/* Decodes j, stored under the key `key` (api_key_parse; its kind picks the
 * type). Returns the document (caller frees with api_doc_free) or NULL;
 * *error gets a new string (caller frees; one "path: problem" per line)
 * when the document has problems, else NULL. A kind without a typed form
 * returns NULL and no error. */
void *api_doc_decode(const api_key_parts *key, const json_t *j, char **error);

/* api_doc_decode for a value that stays next to its text: j was parsed
 * from text[0..len), which has no key twice in an object and outlives the
 * document (the cache keeps both, and frees the document first). A task
 * record's TaskInfo then points into text rather than being written out
 * again (api_task_from_text). */
void *api_doc_decode_text(const api_key_parts *key, const json_t *j, const char *text, size_t len,
                          char **error);

/* Whether the document, decoded by api_doc_decode_text from text[0..len),
 * writes that text again byte for byte (api_doc_write_text), so that its
 * holder may drop the text. When it does, the document stops pointing into
 * text. Only task records can (api_task_detach_text: a record as the bridge
 * stores it); false for every other kind. */
bool api_doc_detach_text(api_key_kind kind, void *doc, const char *text, size_t len);

/* The document of a value whose text is exactly what api_doc_write_text
 * writes for it (a task record as the bridge stores it), decoded without
 * jansson's lexer and already detached (caller frees with api_doc_free);
 * NULL for any other text or kind, and for a document its key disowns:
 * the caller decodes those as usual, which reports why. Safe on any bytes
 * (api_task_from_own_text). */
void *api_doc_decode_own_text(const api_key_parts *key, const char *text, size_t len);

/* The text a document detached by api_doc_detach_text came from (caller
 * frees; *len gets its length), or NULL for a kind that cannot write one. */
char *api_doc_write_text(api_key_kind kind, const void *doc, size_t *len);

/* A read-only copy of doc in fewer allocations, for a holder that keeps
 * it (the cache): frees doc and returns the copy, which borrows what doc
 * borrowed (api_doc_decode_text's text). Task records only
 * (api_task_pack); any other doc is returned as it is. */
void *api_doc_compact(api_key_kind kind, void *doc);

/* Frees a document returned by api_doc_decode for the same kind. NULL is a
 * no-op. */
void api_doc_free(api_key_kind kind, void *doc);

#endif
