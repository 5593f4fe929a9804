/*
 * mqttsim/api.h - export control and version of libmqttsim.
 *
 * The library is built with hidden symbol visibility; MQTTSIM_API marks
 * the functions of the public interface, the only ones the shared
 * library exports.
 */
#ifndef MQTTSIM_API_H
#define MQTTSIM_API_H

#define MQTTSIM_VERSION "0.1.0"

#if defined(__GNUC__) || defined(__clang__)
#define MQTTSIM_API __attribute__((visibility("default")))
#else
#define MQTTSIM_API
#endif

#endif /* MQTTSIM_API_H */
