/*
 * registry_slot: the registry's bookkeeping pointer on each connection (where
 * it sits in every array of the registry), private to registry/: registry.c
 * owns what it points to, connection.c only stores it. Any other file that
 * includes this header fails to build. Guarded by the registry mutex; NULL
 * while the connection is not registered.
 */
#ifndef SSE_REGISTRY_SLOT_H
#define SSE_REGISTRY_SLOT_H

#ifndef SSE_REGISTRY_INTERNAL
#error "registry/registry_slot.h is private to registry.c and connection.c"
#endif

struct connection;

/* The slot the registry set, or NULL. Registry mutex held. */
void *connection_registry_slot(const struct connection *c);
/* Sets the slot, or clears it with NULL. Registry mutex held. */
void connection_set_registry_slot(struct connection *c, void *slot);

#endif
