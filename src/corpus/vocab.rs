//! The generator's vocabularies: value pools, typed parameters and domains. Written by hand for
//! this generator (general-knowledge words), never taken from BFCL's data, which is kept for
//! evaluation only.

/// A pool of string values.
pub type Pool = &'static [&'static str];

/// Values for `cities` parameters.
pub const CITIES: Pool = &[
    "Lyon", "Porto", "Kyoto", "Denver", "Nairobi", "Oslo", "Quito", "Perth", "Tallinn", "Austin", "Seville", "Hanoi",
    "Calgary", "Dakar", "Gdansk", "Leeds", "Malmo", "Cusco", "Izmir", "Busan", "Tucson", "Graz", "Bergen", "Fukuoka",
];
/// Values for `countries` parameters.
pub const COUNTRIES: Pool = &[
    "France", "Portugal", "Japan", "Kenya", "Norway", "Ecuador", "Estonia", "Spain", "Vietnam", "Canada", "Senegal",
    "Poland", "Sweden", "Peru", "Turkey", "Austria", "Chile", "Ghana", "Iceland", "Malaysia",
];
/// Values for `people` parameters.
pub const PEOPLE: Pool = &[
    "Amara Okafor",
    "Lena Fischer",
    "Ravi Menon",
    "Sofia Alves",
    "Tomas Novak",
    "Mei Lin",
    "Jonas Berg",
    "Priya Shah",
    "Diego Ruiz",
    "Hana Sato",
    "Omar Haddad",
    "Clara Dubois",
    "Ivan Petrov",
    "Zoe Carter",
    "Kofi Mensah",
];
/// Values for `languages` parameters.
pub const LANGUAGES: Pool = &["Spanish", "German", "Japanese", "Swahili", "Portuguese", "Korean", "Dutch", "Turkish"];
/// Values for `companies` parameters.
pub const COMPANIES: Pool =
    &["Northwind", "Bluepeak", "Coralis", "Fernhill", "Quantix", "Redstone", "Solvane", "Tidewater", "Veridia"];
/// Values for `products` parameters.
pub const PRODUCTS: Pool = &[
    "wireless earbuds",
    "standing desk",
    "espresso machine",
    "trail shoes",
    "air purifier",
    "mechanical keyboard",
    "yoga mat",
    "rice cooker",
    "e-reader",
    "camping tent",
    "desk lamp",
    "water bottle",
];
/// Values for `topics` parameters.
pub const TOPICS: Pool = &[
    "renewable energy",
    "ancient Rome",
    "machine learning",
    "coral reefs",
    "jazz history",
    "urban gardening",
    "black holes",
    "sleep science",
    "volcanoes",
    "the printing press",
    "honeybees",
    "quantum computing",
];
/// Values for `genres` parameters.
pub const GENRES: Pool = &["jazz", "folk", "techno", "classical", "hip hop", "reggae", "blues", "ambient"];
/// Values for `foods` parameters.
pub const FOODS: Pool = &["lentil soup", "pad thai", "risotto", "falafel", "ramen", "paella", "gnocchi", "tacos"];
/// Values for `sports` parameters.
pub const SPORTS: Pool = &["tennis", "cricket", "volleyball", "rugby", "basketball", "cycling", "handball"];
/// Values for `teams` parameters.
pub const TEAMS: Pool = &["Harbor City Hawks", "Red Valley United", "Northside Comets", "Lakeshore Lions"];
/// Values for `symbols` parameters.
pub const SYMBOLS: Pool = &["NWX", "BLPK", "CRLS", "FNHL", "QTX", "RDST", "SLVN", "TDWR"];
/// Values for `currencies` parameters.
pub const CURRENCIES: Pool = &["EUR", "JPY", "GBP", "CAD", "NOK", "CHF", "AUD", "INR"];
/// Values for `dates` parameters.
pub const DATES: Pool =
    &["2025-03-14", "2025-06-01", "2025-09-23", "2025-11-05", "2026-01-17", "2026-04-08", "2026-07-30", "2026-10-12"];
/// Values for `emails` parameters.
pub const EMAILS: Pool = &["ana@example.org", "team@example.com", "li.wei@example.net", "ops@example.org"];
/// Values for `devices` parameters.
pub const DEVICES: Pool = &["living room lights", "thermostat", "garage door", "kitchen speaker", "porch camera"];
/// Values for `species` parameters.
pub const SPECIES: Pool = &["red fox", "snow leopard", "barn owl", "green turtle", "honey badger", "koala"];
/// Values for `elements` parameters.
pub const ELEMENTS: Pool = &["carbon", "neon", "iron", "sodium", "copper", "helium", "zinc", "argon"];
/// Values for `skills` parameters.
pub const SKILLS: Pool = &["Python", "welding", "bookkeeping", "photography", "public speaking", "Rust"];

/// How a parameter's value is drawn and put into words.
#[derive(Clone, Copy, Debug)]
pub enum Ty {
    /// A string from a pool: `"{prefix} {value}"`.
    Str(Pool, &'static str),
    /// An integer in `[lo, hi]`: `"{prefix} {value} {unit}"` (small ones sometimes in words).
    Int(i64, i64, &'static str, &'static str),
    /// A number with two decimals at most in `[lo, hi]`: `"{prefix} {value} {unit}"`.
    Num(f64, f64, &'static str, &'static str),
    /// A boolean: the words for true and for false.
    Bool(&'static str, &'static str),
    /// One of `(value, words)`.
    Enum(&'static [(&'static str, &'static str)]),
    /// 2 or 3 strings of a pool: `"{prefix} a, b and c"`.
    List(Pool, &'static str),
    /// An object `{city, country}`: `"in {city}, {country}"`.
    Place,
    /// 2 to 4 distinct integers in `[lo, hi]`: `"{prefix} 4, 8 and 15"`.
    Ints(i64, i64, &'static str),
    /// `[latitude, longitude]`, four decimals each: `"at coordinates 46.6034, 1.8883"`.
    Coords,
}

/// A parameter: its name, description and type.
#[derive(Clone, Copy, Debug)]
pub struct Param {
    /// Its name in the schema.
    pub name: &'static str,
    /// Its description.
    pub about: &'static str,
    /// Its type.
    pub ty: Ty,
}

const fn p(name: &'static str, about: &'static str, ty: Ty) -> Param {
    Param { name, about, ty }
}

/// Every parameter a domain may use.
pub const PARAMS: &[Param] = &[
    p("city", "Name of the city.", Ty::Str(CITIES, "in")),
    p("country", "Country name.", Ty::Str(COUNTRIES, "in")),
    p("location", "The place, as a city and its country.", Ty::Place),
    p("person", "Full name of the person.", Ty::Str(PEOPLE, "for")),
    p("language", "Language to use.", Ty::Str(LANGUAGES, "in")),
    p("company", "Company name.", Ty::Str(COMPANIES, "for")),
    p("product", "Product name.", Ty::Str(PRODUCTS, "for the")),
    p("topic", "Subject to cover.", Ty::Str(TOPICS, "about")),
    p("genre", "Music genre.", Ty::Str(GENRES, "in the genre")),
    p("dish", "Name of the dish.", Ty::Str(FOODS, "for")),
    p("sport", "The sport.", Ty::Str(SPORTS, "for")),
    p("team", "Team name.", Ty::Str(TEAMS, "for the")),
    p("symbol", "Ticker symbol.", Ty::Str(SYMBOLS, "for")),
    p("currency", "ISO currency code.", Ty::Str(CURRENCIES, "in")),
    p("date", "Date as YYYY-MM-DD.", Ty::Str(DATES, "on")),
    p("email", "Email address.", Ty::Str(EMAILS, "to")),
    p("device", "Name of the device.", Ty::Str(DEVICES, "for the")),
    p("species", "Common name of the species.", Ty::Str(SPECIES, "for the")),
    p("element", "Chemical element name.", Ty::Str(ELEMENTS, "for")),
    p("skill", "The skill.", Ty::Str(SKILLS, "for")),
    p("days", "Number of days.", Ty::Int(1, 14, "for", "days")),
    p("limit", "Maximum number of results.", Ty::Int(1, 20, "with at most", "results")),
    p("guests", "Number of guests.", Ty::Int(1, 9, "for", "guests")),
    p("year", "The year.", Ty::Int(1950, 2024, "in", "")),
    p("quantity", "How many items.", Ty::Int(1, 12, "for", "units")),
    p("floor", "Floor number.", Ty::Int(1, 40, "on floor", "")),
    p("amount", "Amount of money.", Ty::Num(5.0, 5000.0, "of", "dollars")),
    p("weight_kg", "Weight in kilograms.", Ty::Num(0.5, 120.0, "weighing", "kg")),
    p("distance_km", "Distance in kilometers.", Ty::Num(0.5, 900.0, "over", "km")),
    p("rate", "Annual interest rate in percent.", Ty::Num(0.5, 12.0, "at", "percent")),
    p("temperature", "Target temperature in degrees Celsius.", Ty::Num(16.0, 30.0, "to", "degrees")),
    p("budget", "Budget in dollars.", Ty::Num(20.0, 3000.0, "under", "dollars")),
    p("principal", "The amount borrowed or invested, in dollars.", Ty::Num(1000.0, 900_000.0, "on", "dollars")),
    p("years", "Number of years.", Ty::Int(1, 30, "over", "years")),
    p("population", "Number of people.", Ty::Int(1000, 5_000_000, "with a population of", "people")),
    p("area_sqft", "Floor area in square feet.", Ty::Int(300, 90_000, "with an area of", "square feet")),
    p("initial_speed", "Starting speed in meters per second.", Ty::Num(0.0, 60.0, "starting at", "m/s")),
    p("acceleration", "Acceleration in meters per second squared.", Ty::Num(0.5, 12.0, "accelerating at", "m/s^2")),
    p("seconds", "Duration in seconds.", Ty::Int(1, 120, "for", "seconds")),
    p("radius", "Radius in meters.", Ty::Num(0.5, 50.0, "with radius", "meters")),
    p("base", "Length of the base in meters.", Ty::Num(0.5, 50.0, "with base", "meters")),
    p("height", "Height in meters.", Ty::Num(0.5, 50.0, "and height", "meters")),
    p("num1", "The first number.", Ty::Int(2, 500, "of", "")),
    p("num2", "The second number.", Ty::Int(2, 500, "and", "")),
    p("decimals", "Decimal places to round the result to.", Ty::Int(0, 6, "rounded to", "decimal places")),
    p("numbers", "The numbers to work on.", Ty::Ints(-50, 100, "of")),
    p("scores", "The scores, each out of 100.", Ty::Ints(0, 100, "with scores")),
    p("coordinates", "Latitude and longitude, in that order.", Ty::Coords),
    p("include_reviews", "Whether to include reviews.", Ty::Bool("with reviews", "without reviews")),
    p("refundable", "Only refundable options.", Ty::Bool("refundable only", "refundable or not")),
    p("detailed", "Return the detailed version.", Ty::Bool("in detail", "briefly")),
    p("notify", "Send a notification.", Ty::Bool("and notify me", "without notifying anyone")),
    p("unit", "Unit system.", Ty::Enum(&[("metric", "in metric units"), ("imperial", "in imperial units")])),
    p(
        "sort",
        "Sort order.",
        Ty::Enum(&[
            ("price_asc", "cheapest first"),
            ("price_desc", "most expensive first"),
            ("rating", "best rated first"),
        ]),
    ),
    p(
        "mode",
        "Travel mode.",
        Ty::Enum(&[
            ("driving", "by car"),
            ("walking", "on foot"),
            ("transit", "by public transport"),
            ("cycling", "by bike"),
        ]),
    ),
    p("priority", "Priority level.", Ty::Enum(&[("low", "with low priority"), ("high", "with high priority")])),
    p("period", "Time period.", Ty::Enum(&[("daily", "per day"), ("weekly", "per week"), ("monthly", "per month")])),
    p("cities", "Names of the cities.", Ty::List(CITIES, "for")),
    p("tags", "Labels to attach.", Ty::List(GENRES, "tagged")),
    p("attendees", "People to invite.", Ty::List(PEOPLE, "with")),
    p("symbols", "Ticker symbols.", Ty::List(SYMBOLS, "for")),
];

/// Parameters said together, the second right after the first ("of 36 and 24" for `num1` and
/// `num2`): a function that takes the first takes both, required, and a request never lists
/// either's values for several calls (two numbers of one call are not two calls).
pub const PAIRS: &[(&str, &str)] = &[("num1", "num2")];

/// A domain: its things (nouns in function names) and the parameters its functions take.
#[derive(Clone, Copy, Debug)]
pub struct Domain {
    /// Short name (in descriptions).
    pub name: &'static str,
    /// Things its functions act on (snake_case words).
    pub things: &'static [&'static str],
    /// Names of its parameters (in [`PARAMS`]); the first few are its subjects.
    pub params: &'static [&'static str],
}

const fn d(name: &'static str, things: &'static [&'static str], params: &'static [&'static str]) -> Domain {
    Domain { name, things, params }
}

/// The domains.
pub const DOMAINS: &[Domain] = &[
    d(
        "weather",
        &["forecast", "air_quality", "uv_index", "rainfall", "sunrise_time"],
        &["city", "location", "days", "unit", "date", "detailed", "coordinates"],
    ),
    d(
        "travel",
        &["flight", "train_ticket", "hotel_room", "car_rental", "travel_insurance"],
        &["city", "date", "guests", "budget", "refundable", "sort"],
    ),
    d(
        "maps",
        &["route", "travel_time", "nearby_places", "distance", "traffic"],
        &["city", "location", "mode", "distance_km", "limit"],
    ),
    d(
        "finance",
        &["stock_price", "exchange_rate", "loan_payment", "dividend", "portfolio"],
        &["symbol", "currency", "amount", "rate", "year", "symbols", "period", "principal", "years"],
    ),
    d(
        "shopping",
        &["product_price", "order", "wishlist", "coupon", "delivery_date"],
        &["product", "quantity", "budget", "include_reviews", "sort", "city"],
    ),
    d(
        "music",
        &["playlist", "concert", "top_tracks", "album", "radio_station"],
        &["genre", "city", "limit", "year", "tags", "date"],
    ),
    d(
        "food",
        &["recipe", "nutrition_facts", "restaurant", "meal_plan", "grocery_list"],
        &["dish", "city", "guests", "days", "budget", "detailed"],
    ),
    d(
        "sports",
        &["match_score", "league_table", "player_stats", "fixture", "team_roster"],
        &["team", "sport", "year", "date", "limit", "detailed"],
    ),
    d(
        "calendar",
        &["meeting", "reminder", "event", "availability", "holiday"],
        &["date", "attendees", "person", "priority", "notify", "country"],
    ),
    d(
        "email",
        &["message", "newsletter", "draft", "contact", "mailing_list"],
        &["email", "person", "topic", "priority", "tags"],
    ),
    d(
        "smart_home",
        &["thermostat_setting", "light_scene", "energy_usage", "door_lock", "camera_clip"],
        &["device", "temperature", "date", "period", "notify"],
    ),
    d(
        "health",
        &["calorie_burn", "step_count", "sleep_score", "hydration_goal", "heart_rate"],
        &["person", "weight_kg", "days", "date", "period"],
    ),
    d(
        "education",
        &["course", "quiz", "reading_list", "tutor", "exam_schedule"],
        &["topic", "language", "skill", "limit", "detailed", "scores"],
    ),
    d(
        "statistics",
        &["average", "median", "standard_deviation", "variance", "percentile_rank"],
        &["numbers", "decimals", "scores"],
    ),
    d(
        "arithmetic",
        &["greatest_common_divisor", "least_common_multiple", "power", "ratio", "remainder"],
        &["num1", "decimals"],
    ),
    d(
        "geometry",
        &["triangle_area", "circle_area", "cylinder_volume", "hypotenuse", "cone_surface"],
        &["base", "height", "radius", "decimals", "unit"],
    ),
    d(
        "physics",
        &["displacement", "final_velocity", "kinetic_energy", "stopping_distance", "momentum"],
        &["initial_speed", "acceleration", "seconds", "weight_kg", "decimals"],
    ),
    d(
        "demographics",
        &["population_growth", "census_summary", "median_age", "migration_rate", "birth_rate"],
        &["country", "city", "population", "year", "years", "coordinates"],
    ),
    d(
        "science",
        &["element_properties", "species_facts", "unit_conversion", "star_chart", "earthquake_report"],
        &["element", "species", "country", "year", "detailed", "limit"],
    ),
    d(
        "real_estate",
        &["listing", "rent_estimate", "mortgage_quote", "property_tax", "open_house"],
        &["city", "amount", "rate", "floor", "budget", "sort", "area_sqft", "principal"],
    ),
    d(
        "jobs",
        &["job_posting", "salary_range", "resume_review", "interview_slot", "company_profile"],
        &["company", "skill", "city", "limit", "date"],
    ),
    d(
        "translation",
        &["translation", "phrasebook", "pronunciation", "dictionary_entry", "language_course"],
        &["language", "topic", "detailed", "limit"],
    ),
    d(
        "logistics",
        &["shipment", "parcel_status", "shipping_cost", "warehouse_stock", "pickup"],
        &["city", "weight_kg", "distance_km", "date", "priority", "product"],
    ),
    d(
        "news",
        &["headlines", "article", "news_digest", "press_release", "trending_topics"],
        &["topic", "country", "language", "limit", "company", "date"],
    ),
    d(
        "fitness",
        &["workout", "training_plan", "gym_class", "running_route", "yoga_session"],
        &["city", "days", "distance_km", "person", "period"],
    ),
];

/// Verbs: the word in a function name and how a request says it.
pub const VERBS: &[(&str, &str)] = &[
    ("get", "Get the"),
    ("find", "Find the"),
    ("search", "Search for the"),
    ("list", "List the"),
    ("check", "Check the"),
    ("calculate", "Calculate the"),
    ("estimate", "Estimate the"),
    ("create", "Create a"),
    ("update", "Update the"),
    ("cancel", "Cancel the"),
    ("book", "Book a"),
    ("schedule", "Schedule a"),
    ("track", "Track the"),
    ("compare", "Compare the"),
    ("recommend", "Recommend a"),
    ("summarize", "Summarize the"),
    ("fetch", "Fetch the"),
    ("predict", "Predict the"),
];

/// Other ways a request asks for a verb's action (besides [`VERBS`]' own words), each of the
/// same kind: a look-up is asked as a look-up ("Look up the", "What is the"), a change as a
/// change ("Reserve a" for `book`). Requests are not bound to the function's own verb: a model
/// that learns to call only when the request repeats the name's words declines requests that
/// say it otherwise.
pub const ASKED: &[(&str, &[&str])] = &[
    ("get", &["Look up the", "Tell me the", "Show me the", "Retrieve the", "What is the", "I'd like to know the"]),
    ("find", &["Look up the", "Tell me the", "Get the", "What is the", "Locate the"]),
    ("search", &["Look for the", "Find the", "Search the web for the"]),
    ("list", &["Show all the", "Give me the", "What are the"]),
    ("check", &["Look up the", "Verify the", "What is the", "Tell me the"]),
    ("calculate", &["Compute the", "Work out the", "What is the", "Determine the"]),
    ("estimate", &["Approximate the", "Give me an estimate of the", "Roughly what is the"]),
    ("create", &["Make a", "Set up a", "Add a"]),
    ("update", &["Change the", "Modify the", "Edit the"]),
    ("cancel", &["Call off the", "Revoke the", "Withdraw the"]),
    ("book", &["Reserve a", "Make a reservation for a"]),
    ("schedule", &["Arrange a", "Plan a", "Set a time for a"]),
    ("track", &["Follow the", "Monitor the", "Where is the"]),
    ("compare", &["Contrast the", "Weigh up the"]),
    ("recommend", &["Suggest a", "Propose a"]),
    ("summarize", &["Give me a summary of the", "Sum up the"]),
    ("fetch", &["Get the", "Retrieve the", "Pull the", "What is the"]),
    ("predict", &["Forecast the", "What will be the", "Project the"]),
];

/// Verbs that change something (the others look something up or work it out): a request to
/// change a thing is not served by a function that only looks at it, and the other way round.
pub const CHANGE_VERBS: &[&str] = &["create", "update", "cancel", "book", "schedule"];

/// Qualifiers that make more function names from the same verb and thing.
pub const QUALIFIERS: &[&str] = &["", "", "", "details", "summary", "history", "status", "info", "v2", "report"];

/// Numbers up to twelve in words.
pub const NUMBER_WORDS: [&str; 13] =
    ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve"];
