/* placeholder */ typedef int placeholder_engine;
