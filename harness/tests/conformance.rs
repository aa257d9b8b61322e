//! Runs every conformance case through the real AWS SDK clients against an in-process
//! emulator. One `#[tokio::test]` per case, so `cargo test` names the failing behaviour.

use std::sync::Arc;

use bedrock_emulator::Emulator;
use bedrock_harness::case::Status;
use bedrock_harness::{cases, Ctx, Target};

async fn run_case(name: &str) {
    let case = cases::find(name).unwrap_or_else(|| panic!("no case named {name}"));
    let emulator = Emulator::builder().start().await.expect("emulator starts");
    let ctx = Arc::new(Ctx::new(Target::Emulator { endpoint: emulator.endpoint_url() }).await);
    let outcome = case.run(ctx).await;
    emulator.shutdown().await;
    if let Status::Failed(why) = outcome.status {
        panic!("{name}: {why}");
    }
}

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                run_case(stringify!($name)).await;
            }
        )*

        #[test]
        fn every_harness_case_has_a_cargo_test() {
            let listed: Vec<&str> = vec![$(stringify!($name)),*];
            let missing: Vec<&str> = cases::all().iter().map(|c| c.name).filter(|n| !listed.contains(n)).collect();
            assert!(missing.is_empty(), "add these to tests/conformance.rs: {missing:?}");
        }
    };
}

conformance! {
    converse_returns_assistant_text_with_consistent_usage,
    converse_is_deterministic_for_the_same_request,
    max_tokens_truncates_the_reply_with_stop_reason_max_tokens,
    stop_sequences_end_the_reply_with_stop_reason_stop_sequence,
    a_system_prompt_and_history_increase_input_tokens,
    a_forced_tool_choice_returns_a_tool_use_matching_the_schema,
    a_named_tool_choice_calls_that_tool,
    a_tool_result_continues_the_conversation_with_text,
    inference_profile_ids_and_arns_are_accepted,
    foundation_model_arns_are_accepted,
    responses_carry_a_request_id,
    converse_stream_emits_events_in_bedrock_order,
    converse_stream_text_equals_converse_text,
    converse_stream_streams_tool_input_as_partial_json,
    converse_stream_reports_max_tokens_in_message_stop,
    invoke_model_answers_in_the_anthropic_messages_format,
    invoke_model_with_response_stream_sends_anthropic_chunks_in_order,
    invoke_model_text_equals_its_stream_and_converse,
    invoke_model_rejects_a_malformed_native_body,
    invoke_model_accepts_a_missing_content_type,
    anthropic_messages_answers_invoke_model_and_its_stream,
    titan_text_answers_invoke_model_and_its_stream,
    nova_answers_invoke_model_and_its_stream,
    llama_answers_invoke_model_and_its_stream,
    mistral_prompt_answers_invoke_model_and_its_stream,
    mistral_chat_answers_invoke_model_and_its_stream,
    cohere_command_answers_invoke_model_and_its_stream,
    cohere_command_r_answers_invoke_model_and_its_stream,
    jamba_answers_invoke_model_and_its_stream,
    titan_embeddings_have_the_requested_size_and_unit_length,
    cohere_embeddings_return_one_vector_per_text,
    streaming_an_embedding_model_is_refused,
    nova_canvas_answers_pngs_of_the_requested_size,
    nova_sonic_answers_a_text_turn_in_text_and_audio,
    an_application_inference_profile_lives_serves_converse_and_is_deleted,
    an_automated_reasoning_policy_lives_changes_and_is_deleted,
    a_default_prompt_router_answers_converse_and_names_its_model,
    nova_sonic_answers_over_http2_with_prior_knowledge,
    count_tokens_matches_converse_input_tokens,
    an_unknown_model_id_is_invalid,
    an_unknown_model_id_is_invalid_for_converse_stream_before_the_stream,
    a_profile_only_model_by_bare_id_needs_an_inference_profile,
    an_embedding_model_is_refused_by_converse,
    a_conversation_must_start_with_a_user_message,
    roles_must_alternate,
    a_blank_text_block_is_rejected,
    an_empty_content_list_is_rejected,
    temperature_above_one_is_rejected,
    negative_top_p_is_rejected,
    max_tokens_above_the_model_limit_is_rejected,
    max_tokens_below_one_is_rejected,
    tool_blocks_without_tool_config_are_rejected,
    more_tool_results_than_tool_uses_are_rejected,
    an_unanswered_tool_use_is_rejected,
    an_error_tool_result_needs_content,
    a_tool_choice_naming_an_undefined_tool_is_rejected,
    an_unknown_image_format_is_rejected,
    images_are_only_accepted_in_user_messages,
    tool_use_is_refused_by_models_without_tools,
    streaming_tool_use_is_refused_by_models_without_it,
    list_foundation_models_returns_well_formed_summaries,
    list_foundation_models_filters_by_provider,
    list_foundation_models_filters_by_output_modality,
    list_foundation_models_filters_by_inference_type,
    list_foundation_models_filters_by_customization_type,
    get_foundation_model_accepts_an_id_or_an_arn,
    get_foundation_model_of_an_unknown_id_is_not_found,
    list_inference_profiles_pages_without_duplicates,
    get_inference_profile_accepts_an_id_or_an_arn,
    get_inference_profile_of_an_unknown_id_is_not_found,
    a_guardrail_lives_through_create_version_update_and_delete,
    get_guardrail_of_an_unknown_id_is_not_found,
    create_guardrail_with_a_bad_name_is_refused,
    apply_guardrail_blocks_an_email_and_passes_harmless_text,
    converse_with_a_guardrail_answers_its_blocked_message,
    invoke_guardrail_checks_scores_each_requested_check,
    a_guardrails_tags_are_set_listed_and_removed,
    start_async_invoke_is_listed_and_in_progress,
}
