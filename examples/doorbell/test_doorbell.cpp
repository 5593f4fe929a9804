// test_doorbell.cpp - the doorbell tested with GoogleTest and mqtttest's
// stubs and mocks instead of a client: no broker, no network, no threads.
// Each mock report becomes a GoogleTest failure with the mock's words.
//
// Build: g++ -std=c++17 -o test_doorbell test_doorbell.cpp doorbell.cpp
//            $(pkg-config --cflags --libs mqttsim) -lgtest -lgtest_main -pthread
#include <gtest/gtest.h>

#include "doorbell.hpp"

namespace {

void gtest_report(void *, const char *message)
{
	ADD_FAILURE() << message;
}

const mqtt_test_reporter to_gtest = {gtest_report, nullptr};
const mqtt_error OK = {MQTT_SUCCESS, 0};

mqtt_slice text(const char *s)
{
	return mqtt_slice_str(s);
}

mqtt_test_mock mock(const mqtt_test_transfer *transfers, size_t n)
{
	mqtt_test_mock m{};
	m.report = to_gtest;
	m.transfers = transfers;
	m.n = n;
	return m;
}

TEST(Doorbell, StartSubscribesToTheMuteTopic)
{
	const char *const filters[] = {"home/doorbell/mute"};
	const mqtt_test_filter want[] = {{filters, 1, OK}};
	mqtt_test_mock sub{};
	sub.report = to_gtest;
	sub.filters = want;
	sub.n = 1;
	mqtt_api api{};
	mqtt_test_mock_subscribe(&api, &sub);
	Doorbell bell(api);
	EXPECT_EQ(bell.start().cls, MQTT_SUCCESS);
	EXPECT_EQ(mqtt_test_mock_finish(&sub), 0u);
}

TEST(Doorbell, RingsAtLeastOnceUnlessMuted)
{
	const mqtt_test_transfer reads[] = {
		{"home/doorbell/mute", text("on"), 1, false, OK},
		{"home/other", text("off"), 0, false, OK}, // not for us
		{"home/doorbell/mute", text("off"), 1, false, OK},
	};
	const mqtt_test_transfer publishes[] = {{"home/doorbell", text("ring"), 1, false, OK}};
	mqtt_test_mock read = mock(reads, 3), pub = mock(publishes, 1);
	mqtt_test_stub sub{};
	mqtt_api api{};
	mqtt_test_stub_subscribe(&api, &sub);
	mqtt_test_mock_read(&api, &read);
	mqtt_test_mock_publish(&api, &pub);
	Doorbell bell(api);
	ASSERT_EQ(bell.start().cls, MQTT_SUCCESS);
	ASSERT_EQ(bell.poll().cls, MQTT_SUCCESS);
	EXPECT_TRUE(bell.muted());
	EXPECT_EQ(bell.press().cls, MQTT_SUCCESS); // muted: no publish
	ASSERT_EQ(bell.poll().cls, MQTT_SUCCESS);
	EXPECT_TRUE(bell.muted());
	ASSERT_EQ(bell.poll().cls, MQTT_SUCCESS);
	EXPECT_FALSE(bell.muted());
	EXPECT_EQ(bell.press().cls, MQTT_SUCCESS); // the one publish
	EXPECT_EQ(mqtt_test_mock_finish(&read), 0u);
	EXPECT_EQ(mqtt_test_mock_finish(&pub), 0u);
}

TEST(Doorbell, BrokerDownIsReported)
{
	mqtt_test_stub down{};
	down.err = {MQTT_DOWN, 0};
	mqtt_api api{};
	ASSERT_EQ(mqtt_test_stub_publish(&api, &down), 0);
	Doorbell bell(api);
	EXPECT_EQ(bell.press().cls, MQTT_DOWN);
}

TEST(Doorbell, AnExchangeThatNeverCompletesIsATimeout)
{
	// The exchange is held back, then the client closes: the broker may or
	// may not have the ring.
	const mqtt_test_step steps[] = {{MQTT_TEST_BLOCK, MQTT_EXCHANGE_PENDING, 20},
	                                {MQTT_TEST_CLOSED, MQTT_EXCHANGE_CLOSED, 0}};
	mqtt_test_stub pub{};
	pub.steps = steps;
	pub.nsteps = 2;
	mqtt_api api{};
	ASSERT_EQ(mqtt_test_stub_publish(&api, &pub), 0);
	Doorbell bell(api);
	EXPECT_EQ(bell.press().cls, MQTT_TIMEOUT);
}

} // namespace
