// Every buddy::msg container (docs/containers.md): bag, set, map, counting_set, array,
// disjoint_set, and their partitioners.
#pragma once

#include "buddy/msg/containers/array.hpp"
#include "buddy/msg/containers/bag.hpp"
#include "buddy/msg/containers/counting_set.hpp"
#include "buddy/msg/containers/disjoint_set.hpp"
#include "buddy/msg/containers/map.hpp"
#include "buddy/msg/containers/partitioner.hpp"
#include "buddy/msg/containers/set.hpp"
